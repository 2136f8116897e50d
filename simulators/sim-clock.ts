/**
 * The simulated clock of a fleet run, and the checks that keep its timestamps acceptable to citypipe.
 *
 * citypipe dead-letters a reading whose `ts` is more than 5 minutes ahead or more than 7 days old
 * (CONTRACT §2). A sped-up run therefore starts in the past and runs towards the present: simulated
 * time is never ahead of the wall clock, and the oldest reading is as old as the start time. When the
 * simulated clock reaches the present the run either carries on at real time (`live`) or ends (`stop`).
 */

const MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Slack below citypipe's maximum age for the start time: readings spend a moment in transit, and a
 * device that buffered through an outage sends them later still (the fleet drops what has expired).
 */
export const START_AGE_MARGIN_MS = 15 * MS.m;

/** The default start of a sped-up run: this long before now (or less, if citypipe keeps less). */
export const DEFAULT_REPLAY_MS = 24 * MS.h;

/** What happens when a sped-up clock reaches the present. */
export type AtNow = 'live' | 'stop';

/**
 * When a run starts: at a fixed instant, or a fixed span before the clock is started (so that time
 * spent connecting a large fleet does not push a "now" or "-24h" start into the past).
 */
export type StartTime = { readonly atMs: number } | { readonly agoMs: number };

/**
 * Reads a start time: `now`, an ISO 8601 time with an offset (`2024-06-18T00:00:00+02:00`, `…Z`),
 * or a duration before now such as `-24h`, `-90m`, `-3d`, `-1d12h`. Throws a message naming the
 * accepted forms.
 */
export function parseStartTime(text: string): StartTime {
  const t = text.trim();
  if (t === 'now') return { agoMs: 0 };
  const rel = /^-((?:\d+(?:\.\d+)?[smhd])+)$/.exec(t);
  if (rel) {
    let ms = 0;
    for (const m of (rel[1] as string).matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) ms += Number(m[1]) * MS[m[2] as keyof typeof MS];
    return { agoMs: ms };
  }
  // A time without an offset would be read in this machine's zone: ambiguous, so refused.
  if (/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return { atMs: ms };
  }
  throw new Error(`expected now, an ISO 8601 time with an offset (2024-06-18T06:00:00+02:00) or a duration before now (-24h, -90m, -3d), got ${JSON.stringify(text)}`);
}

/** A validated plan for the clock of a run. */
export interface ClockPlan {
  readonly from: StartTime;
  /** Simulated milliseconds per real millisecond, ≥ 1. */
  readonly speed: number;
  readonly atNow: AtNow;
}

/** Inputs of {@link planClock}. */
export interface ClockPlanInput {
  /** Simulated time per real time; default 1. */
  speed?: number | undefined;
  /** Start; default now at speed 1, else {@link DEFAULT_REPLAY_MS} ago (within `maxAgeMs`). A number is epoch ms. */
  from?: StartTime | number | undefined;
  atNow?: AtNow | undefined;
  /** The wall clock now. */
  nowMs: number;
  /** The oldest `ts` citypipe accepts (CITYPIPE_TS_MAX_AGE_S); default 7 days. */
  maxAgeMs?: number | undefined;
}

/**
 * Checks and completes a run's clock settings. Throws when they cannot give valid timestamps: a start
 * in the future, a start older than citypipe accepts (less {@link START_AGE_MARGIN_MS}), a speed
 * below 1. A sped-up run with no start is given one in the past, or it would have nothing to replay.
 */
export function planClock(input: ClockPlanInput): ClockPlan {
  const speed = input.speed ?? 1;
  if (!(Number.isFinite(speed) && speed >= 1)) throw new Error(`speed: expected a number ≥ 1 (simulated seconds per real second), got ${input.speed}`);
  if (input.atNow === 'stop' && !(speed > 1)) throw new Error('atNow: stop needs a speed above 1; at speed 1 the simulated clock never reaches the present');
  const maxAgeMs = input.maxAgeMs ?? 7 * MS.d;
  const oldestMs = maxAgeMs - START_AGE_MARGIN_MS;
  if (!(oldestMs > 0)) throw new Error(`maxAgeMs: must be more than ${START_AGE_MARGIN_MS / MS.m} minutes, got ${maxAgeMs}`);
  const given = typeof input.from === 'number' ? { atMs: input.from } : input.from;
  const from: StartTime = given ?? { agoMs: speed > 1 ? Math.min(DEFAULT_REPLAY_MS, oldestMs) : 0 };
  const fromMs = 'atMs' in from ? from.atMs : input.nowMs - from.agoMs;
  if (!Number.isFinite(fromMs)) throw new Error(`from: not a time: ${JSON.stringify(input.from)}`);
  if (fromMs > input.nowMs) {
    throw new Error(`from: ${new Date(fromMs).toISOString()} is in the future; devices may not report the future (citypipe dead-letters ts more than 5 minutes ahead)`);
  }
  if (input.nowMs - fromMs > oldestMs) {
    throw new Error(
      `from: ${new Date(fromMs).toISOString()} is older than citypipe accepts: readings must be at most ${formatDuration(maxAgeMs)} old (CITYPIPE_TS_MAX_AGE_S), less ${START_AGE_MARGIN_MS / MS.m} minutes of slack, so start no earlier than -${formatDuration(oldestMs)}`,
    );
  }
  return { from, speed, atNow: input.atNow ?? 'live' };
}

/**
 * Simulated time: from the start, `speed` times as fast as the wall clock, never past the wall clock.
 * Started once (when the fleet has connected).
 */
export class SimClock {
  private readonly plan: ClockPlan;
  private readonly realNow: () => number;
  private startRealMs: number | undefined;
  private startSimMs: number | undefined;

  constructor(plan: ClockPlan, realNow: () => number = Date.now) {
    this.plan = plan;
    this.realNow = realNow;
  }

  get speed(): number {
    return this.plan.speed;
  }

  /** Simulated time at the start; before `start()`, what it would be if started now. */
  get fromMs(): number {
    return this.startSimMs ?? this.startFor(this.realNow());
  }

  /** Starts the clock; later calls do nothing. */
  start(): void {
    if (this.startRealMs !== undefined) return;
    this.startRealMs = this.realNow();
    this.startSimMs = this.startFor(this.startRealMs);
  }

  /** Simulated time now, epoch ms; the start time until started. Never later than the wall clock. */
  now(): number {
    const real = this.realNow();
    if (this.startRealMs === undefined || this.startSimMs === undefined) return Math.min(this.startFor(real), real);
    return Math.min(this.startSimMs + (real - this.startRealMs) * this.plan.speed, real);
  }

  /** True once simulated time has reached the wall clock. */
  caughtUp(): boolean {
    if (this.startRealMs === undefined || this.startSimMs === undefined) return false;
    const real = this.realNow();
    return this.startSimMs + (real - this.startRealMs) * this.plan.speed >= real;
  }

  /** Real milliseconds until simulated time reaches `simMs` (0 if it has). */
  realMsUntil(simMs: number): number {
    const ahead = simMs - this.now();
    if (ahead <= 0) return 0;
    // Once caught up, simulated time runs at real speed.
    return this.caughtUp() ? ahead : Math.ceil(ahead / this.plan.speed);
  }

  private startFor(realMs: number): number {
    const from = this.plan.from;
    return 'atMs' in from ? from.atMs : realMs - from.agoMs;
  }
}

/** `6d 23h 45m`: a duration for messages. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / MS.m);
  const d = Math.floor(rest / (24 * 60));
  rest -= d * 24 * 60;
  const h = Math.floor(rest / 60);
  const m = rest - h * 60;
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m || parts.length === 0) parts.push(`${m}m`);
  return parts.join('');
}
