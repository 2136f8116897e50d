import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests that load the whole machine for a minute or more (the soak, 20 event-log replays beside a
 * device timing its PUBACKs, 1,000 requests/s to the residents' routes beside devices timing theirs,
 * the bench smoke), or measure latency while doing so. They run after the rest of the suite, one file
 * at a time: beside each other, or beside two workers of other tests, they would measure the machine
 * rather than citypipe.
 */
const LOAD_TESTS = ['test/soak.e2e.test.ts', 'test/event-stream-load.e2e.test.ts', 'test/residents-load.e2e.test.ts', 'bench/bench.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Forks, not threads: tests start real servers (influxd, victoria-metrics, a broker) as children.
    pool: 'forks',
    maxWorkers: 2,
    // One real influxd for the whole run; test files isolate themselves in their own database.
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['src/**/*.test.ts', 'simulators/**/*.test.ts', 'bench/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...LOAD_TESTS],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'load',
          include: LOAD_TESTS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
