/**
 * Runs the collection plan: once a day on a node-cron schedule (05:00 by default, before the crews
 * set out), and on demand. Holds the latest plan for the HTTP API and hands each new one to
 * `onPlan` (the service writes it to InfluxDB for Grafana).
 */
import cron, { type ScheduledTask } from 'node-cron';
import { stopCronTask } from '../process/cron-task.js';
import type { DeviceRecord } from '../catalog/types.js';
import type { Logger } from '../observability/logger.js';
import { ErrorCodes } from '../errors/catalog.js';
import type { FillSource } from './fill-history.js';
import { buildPlan, DEFAULT_HORIZON_MS, type CollectionPlan } from './plan.js';
import type { FitOptions } from './predict.js';
import type { GeoPoint } from './route.js';

/** Every day at 05:00. */
export const DEFAULT_PLAN_SCHEDULE = '0 5 * * *';

/** What {@link CollectionPlanner} needs. */
export interface CollectionPlannerOptions {
  /** The catalog's devices now (read at every run, so a catalog reload is seen). Non-bins are ignored. */
  readonly devices: () => Iterable<DeviceRecord>;
  readonly history: FillSource;
  /** The bin's collection rule threshold, e.g. `(id, d) => rules.roleThresholdAbove('collection', d)`. */
  readonly thresholdOf: (deviceId: string, device: DeviceRecord) => number | undefined;
  /** node-cron expression; default {@link DEFAULT_PLAN_SCHEDULE}. Validated by `start()`. */
  readonly schedule?: string;
  /** IANA time zone of the schedule (`Europe/Amsterdam`); default the process's. */
  readonly timeZone?: string;
  /** Default 24 h. */
  readonly horizonMs?: number;
  /** Where each district's route starts; default its first bin. */
  readonly depots?: Readonly<Record<string, GeoPoint>>;
  readonly fit?: FitOptions;
  /** Wall clock; default Date.now. */
  readonly now?: () => number;
  /** Gets every new plan. May be async; a failure is logged and does not stop the planner. */
  readonly onPlan?: (plan: CollectionPlan) => void | Promise<void>;
  readonly log?: Logger;
}

/** The daily collection planner. */
export class CollectionPlanner {
  private readonly opts: CollectionPlannerOptions;
  private readonly now: () => number;
  private task: ScheduledTask | undefined;
  private plan: CollectionPlan | undefined;

  constructor(opts: CollectionPlannerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /** Schedules the daily run. Throws for an invalid schedule or time zone. */
  start(): void {
    if (this.task) return;
    const schedule = this.opts.schedule ?? DEFAULT_PLAN_SCHEDULE;
    if (!cron.validate(schedule)) throw new Error(`collection plan schedule: not a valid cron expression: ${JSON.stringify(schedule)}`);
    if (this.opts.timeZone !== undefined) assertTimeZone(this.opts.timeZone);
    this.task = cron.schedule(schedule, () => this.scheduledRun(), {
      name: 'citypipe-collection-plan',
      noOverlap: true,
      ...(this.opts.timeZone === undefined ? {} : { timezone: this.opts.timeZone }),
    });
  }

  /** Stops the schedule. The latest plan stays readable. */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    await stopCronTask(task);
  }

  /** The latest plan; undefined before the first run. */
  latest(): CollectionPlan | undefined {
    return this.plan;
  }

  /** Builds a plan now (or at `nowMs`), keeps it as the latest and hands it to `onPlan`. */
  generate(nowMs: number = this.now()): CollectionPlan {
    const plan = buildPlan({
      now: nowMs,
      horizonMs: this.opts.horizonMs ?? DEFAULT_HORIZON_MS,
      bins: this.opts.devices(),
      history: this.opts.history,
      thresholdOf: this.opts.thresholdOf,
      ...(this.opts.depots === undefined ? {} : { depots: this.opts.depots }),
      ...(this.opts.fit === undefined ? {} : { fit: this.opts.fit }),
    });
    this.plan = plan;
    this.deliver(plan);
    return plan;
  }

  private scheduledRun(): void {
    try {
      const plan = this.generate();
      this.opts.log?.info({ planned: plan.summary.planned, districts: plan.districts.length }, 'collection plan generated');
    } catch (err) {
      this.opts.log?.error({ err, code: ErrorCodes.COLLECTION_PLAN.code }, 'collection plan failed; the previous plan stays');
    }
  }

  /** One faulty consumer must not take the planner down, whether it throws or rejects. */
  private deliver(plan: CollectionPlan): void {
    const onPlan = this.opts.onPlan;
    if (!onPlan) return;
    const failed = (err: unknown) => this.opts.log?.error({ err, code: 'CP_ERR_EVENT_SINK' }, 'a consumer of the collection plan failed');
    try {
      const done = onPlan(plan);
      if (done instanceof Promise) done.catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}

function assertTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new Error(`collection plan time zone: not an IANA time zone: ${JSON.stringify(timeZone)}`);
  }
}
