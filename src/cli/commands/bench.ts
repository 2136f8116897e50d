import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { packageRoot } from '../../paths.js';
import { BENCH_PHASES, FULL, MAX_E2E_BATCH, QUICK, type BenchPhase, type BenchSizes } from '../../../bench/options.js';
import { runBench } from '../../../bench/run.js';
import { formatReport, writeReportBlock } from '../../../bench/report.js';

/** Where `bench --write-docs` keeps its results (a section per kind of run). */
const DEFAULT_REPORT = path.join(packageRoot, 'docs', 'BENCHMARKS.md');

/** Command-line flag → size it overrides. */
const SIZE_FLAGS: readonly { flag: string; key: keyof BenchSizes; help: string }[] = [
  { flag: 'publishers', key: 'publishers', help: 'concurrent publishers of the throughput and latency phases' },
  { flag: 'messages', key: 'messagesPerPublisher', help: 'readings per publisher in each end-to-end phase' },
  { flag: 'e2e-batch', key: 'e2eBatch', help: 'readings per PUBLISH in the batched end-to-end variant (at most 1000)' },
  { flag: 'broker-messages', key: 'brokerMessagesPerPublisher', help: 'messages per publisher in each broker-only phase' },
  { flag: 'raw-points', key: 'rawPoints', help: 'points of the raw InfluxDB baseline' },
  { flag: 'latency-rate', key: 'latencyRate', help: 'readings/s of the latency phase' },
  { flag: 'latency-seconds', key: 'latencySeconds', help: 'measured seconds of the latency phase' },
  { flag: 'latency-warmup', key: 'latencyWarmupSeconds', help: 'warm-up seconds before the latency is measured' },
  { flag: 'connections', key: 'connections', help: 'idle device connections (default 20000; capped by the open-files limit)' },
  { flag: 'burst-batch', key: 'burstBatch', help: 'readings each device uploads when the burst reconnects it' },
  { flag: 'phase-timeout', key: 'phaseTimeoutS', help: 'upper bound of one phase, seconds' },
  { flag: 'soak-devices', key: 'soakDevices', help: 'devices of the soak\'s generated fleet' },
  { flag: 'soak-rate', key: 'soakReadingsPerS', help: 'readings/s of the soak (the whole fleet)' },
  { flag: 'soak-seconds', key: 'soakSeconds', help: 'measured seconds of the soak, per connection mode' },
];

function phaseList(value: string): Set<BenchPhase> {
  const phases = value.split(',').map((p) => p.trim());
  for (const p of phases) {
    if (!(BENCH_PHASES as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown phase "${p}" (phases: ${BENCH_PHASES.join(', ')})`);
  }
  return new Set(phases as BenchPhase[]);
}

function positiveInt(value: string): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return v;
}

/** Flag name `latency-rate` → commander's option key `latencyRate`. */
function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

interface BenchFlags {
  quick?: boolean;
  json?: boolean;
  writeDocs?: boolean;
  report?: string;
  cpuProf?: boolean;
  cli: string;
  influxd: string;
  mosquitto: string;
  keep?: boolean;
  only?: Set<BenchPhase>;
  nodeArg?: string[];
  [size: string]: unknown;
}

/**
 * `citypipe bench`: throughput, latency, connections and a reconnect burst of the real service,
 * each beside a baseline measured in the same run (see docs/BENCHMARKS.md).
 */
export function registerBenchCommand(program: Command): void {
  const cmd = program
    .command('bench')
    .description('benchmark citypipe on this machine against raw InfluxDB, aedes alone and mosquitto (see docs/BENCHMARKS.md)')
    .option('--quick', 'smaller sizes; finishes within 5 minutes')
    .option('--json', 'print the results as one JSON object (progress still goes to stderr)')
    .option('--write-docs', "rewrite this run's section of docs/BENCHMARKS.md with the results (by default nothing is written)")
    .option('--report <file>', "rewrite this run's section of another Markdown file with the results")
    .option('--cpu-prof', 'profile the citypipe process (node --cpu-prof) and report its top self-time functions')
    .option('--cli <path>', 'bin/citypipe.js of the build to benchmark', path.join(packageRoot, 'bin', 'citypipe.js'))
    .option('--influxd <path>', 'influxd executable', 'influxd')
    .option('--mosquitto <path>', 'mosquitto executable (the reference broker)', '/usr/sbin/mosquitto')
    .option('--keep', 'keep the temporary folder (InfluxDB data, catalogs, profiles)')
    .option('--node-arg <flag>', 'a Node.js flag for the service process, e.g. --node-arg=--max-semi-space-size=64 (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--only <phases>', `run only these phases, comma-separated (${BENCH_PHASES.join(', ')}); the others report null`, phaseList);
  for (const s of SIZE_FLAGS) cmd.option(`--${s.flag} <n>`, s.help, positiveInt);
  cmd.action(async (flags: BenchFlags, command: Command) => {
    const sizes: BenchSizes = { ...(flags.quick ? QUICK : FULL) };
    let custom = false;
    for (const s of SIZE_FLAGS) {
      const v = flags[camel(s.flag)];
      if (typeof v === 'number') {
        sizes[s.key] = v;
        custom = true;
      }
    }
    if (sizes.e2eBatch > MAX_E2E_BATCH) command.error(`error: --e2e-batch: at most ${MAX_E2E_BATCH} readings per PUBLISH (the contract's largest batch)`);
    // BENCH_SIZES changes sizes too: such a run must not replace the quick or full section either.
    const mode = custom || flags.only || flags.nodeArg || process.env.BENCH_SIZES ? 'custom' : flags.quick ? 'quick' : 'full';
    const progress = (line: string) => process.stderr.write(`${line}\n`);
    // Exiting runs the exit hooks that kill every process the bench started (influxd included).
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        progress(`bench interrupted (${signal}); stopping the processes it started`);
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
    const result = await runBench({
      mode,
      sizes,
      phases: flags.only ?? new Set(BENCH_PHASES),
      cli: path.resolve(flags.cli),
      influxd: flags.influxd,
      mosquitto: flags.mosquitto,
      cpuProf: flags.cpuProf === true,
      serviceNodeArgs: flags.nodeArg ?? [],
      keepWorkDir: flags.keep === true,
      progress,
    });
    // Paths relative to where it ran: the report goes into the repository, machine paths do not.
    const args = process.argv.slice(process.argv.indexOf('bench') + 1).map((a) => (path.isAbsolute(a) ? path.relative(process.cwd(), a) || '.' : a));
    const invoked = ['npx citypipe bench', ...args].join(' ');
    const report = formatReport(result, invoked);
    // Nothing in the checkout changes unless asked: a user's run prints, a maintainer's keeps.
    // Each kind of run (full, quick, custom sizes) has its own section, so a custom-sized run never
    // replaces the quick or full figures.
    const target = flags.report ?? (flags.writeDocs ? DEFAULT_REPORT : undefined);
    if (target !== undefined) {
      writeReportBlock(target, mode, report);
      progress(`report written to ${path.relative(process.cwd(), target) || target} (section "${mode}")`);
    }
    process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `\n${report}\n`);
  });
}
