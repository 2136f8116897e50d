import 'vitest';

declare module 'vitest' {
  /** Values test/global-setup.ts provides to every test file through `inject()`. */
  export interface ProvidedContext {
    /** Base URL of the run's InfluxDB 1.x (`http://127.0.0.1:<port>`). */
    influxUrl: string;
    /** The run's PostgreSQL server (`postgres://postgres@127.0.0.1:<port>/postgres`); make a database per test. */
    postgresUrl: string;
  }
}
