import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'simulators/**/*.test.ts', 'bench/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Forks, not threads: tests start real servers (influxd, victoria-metrics, a broker) as children.
    pool: 'forks',
    maxWorkers: 2,
    // One real influxd for the whole run; test files isolate themselves in their own database.
    globalSetup: ['test/global-setup.ts'],
  },
});
