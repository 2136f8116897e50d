/**
 * A bench result as a Markdown report (printed, and kept in docs/BENCHMARKS.md), and the flat JSON
 * object of `bench --json`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './run.js';
import { formatCluster } from './cluster-figures.js';
import { formatResidents } from './residents-figures.js';
import { formatSoak } from './soak-figures.js';

/** A figure, or – for one that was not measured (a phase left out with --only). */
function n(v: number): string {
  return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–';
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${Math.round(v * 100)} %` : '–';
}

function dec(v: number): string {
  return Number.isFinite(v) ? String(v) : '–';
}

/** The report of one run, Markdown. `command` is how it was run, for the reader who wants to repeat it. */
export function formatReport(r: BenchResult, command: string): string {
  const s = r.run.sizes;
  const v = r.run.versions;
  const out: string[] = [];
  out.push(`### ${r.run.mode === 'quick' ? 'Quick run' : r.run.mode === 'full' ? 'Full run' : 'Custom run'}: \`${command}\``);
  out.push('');
  out.push(
    `${r.run.date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}, ${r.run.durationS} s. Machine: ${r.run.machine}. citypipe ${v.citypipe}, ` +
      `Node ${v.node}, ${v.influxd}, mosquitto ${v.mosquitto}${v.postgres ? `, PostgreSQL ${v.postgres}` : ''}. Everything (InfluxDB, brokers, load generators) on this one machine, ` +
      `loopback only; other work on the machine adds noise, which is why figures are compared with baselines from the same run.`,
  );
  out.push('');
  out.push('| measurement | result | compared |');
  out.push('|---|---:|---|');
  const runs = r.raw_influx_runs_points_per_s;
  out.push(
    `| (a) raw InfluxDB write, line protocol in 5,000-line batches, 2 in flight | ${n(r.raw_influx_points_per_s)} points/s | ` +
      `baseline: mean of ${runs.map(n).join(' (before the end-to-end phases) and ')}${runs.length > 1 ? ' (after)' : ''} |`,
  );
  out.push(
    `| (b) aedes alone, ${s.publishers} publishers, QoS 0 / QoS 1 | ${n(r.broker_only_qos0_msgs_per_s)} / ${n(r.broker_only_msgs_per_s)} msgs/s | ` +
      `${r.mosquitto_qos0_msgs_per_s ? pct(r.broker_only_qos0_msgs_per_s / r.mosquitto_qos0_msgs_per_s) : '–'} / ${r.mosquitto_msgs_per_s ? pct(r.broker_only_msgs_per_s / r.mosquitto_msgs_per_s) : '–'} of mosquitto |`,
  );
  out.push(`| (c) mosquitto, same load, QoS 0 / QoS 1 | ${n(r.mosquitto_qos0_msgs_per_s)} / ${n(r.mosquitto_msgs_per_s)} msgs/s | reference broker |`);
  out.push(
    `| citypipe end to end, QoS 0 (${s.publishers} × ${n(s.messagesPerPublisher)} readings, counted in InfluxDB) | ${n(r.e2e_qos0_readings_per_s)} readings/s | ` +
      `${pct(r.e2e_qos0_vs_raw_influx)} of (a), ${pct(r.e2e_qos0_vs_broker_only)} of (b) QoS 0; broker took ${n(r.e2e_qos0_accepted_msgs_per_s)}/s; ${dec(r.e2e_qos0_cpu_us_per_reading)} µs citypipe CPU per reading |`,
  );
  out.push(
    `| citypipe end to end, QoS 1 (same) | ${n(r.e2e_qos1_readings_per_s)} readings/s | ` +
      `${pct(r.e2e_qos1_vs_raw_influx)} of (a), ${pct(r.e2e_qos1_vs_broker_only)} of (b) QoS 1; broker acknowledged ${n(r.e2e_qos1_accepted_msgs_per_s)}/s; ${dec(r.e2e_qos1_cpu_us_per_reading)} µs citypipe CPU per reading |`,
  );
  const batchVsRaw = r.e2e_qos1_batch_readings_per_s / r.raw_influx_points_per_s;
  out.push(
    `| citypipe end to end, QoS 1, ${n(r.e2e_batch_readings)} readings per PUBLISH (same readings, ${n(Math.ceil(s.messagesPerPublisher / r.e2e_batch_readings))} PUBLISHes per publisher, each a JSON array) | ` +
      `${n(r.e2e_qos1_batch_readings_per_s)} readings/s | ` +
      `${pct(batchVsRaw)} of (a); broker acknowledged ${n(r.e2e_qos1_batch_accepted_msgs_per_s)} PUBLISHes/s; ${dec(r.e2e_qos1_batch_cpu_us_per_reading)} µs citypipe CPU per reading |`,
  );
  out.push(
    `| LoRaWAN uplinks end to end, QoS 1: ${n(r.uplinks)} ChirpStack \`up\` events over one network-server connection (decoded, bins' fill from distance) | ${n(r.uplink_qos1_readings_per_s)} readings/s | ` +
      `${pct(r.uplink_vs_e2e_qos1)} of citypipe end to end QoS 1 (direct devices); acknowledged ${n(r.uplink_qos1_acked_per_s)}/s; ${dec(r.uplink_qos1_cpu_us_per_reading)} µs citypipe CPU per reading |`,
  );
  out.push(
    `| publish → queryable in InfluxDB at ${n(r.latency_target_rate_per_s)} readings/s, QoS 1, ${s.latencySeconds} s | p50 ${n(r.p50_latency_ms_at_10k)} ms, p99 ${n(r.p99_latency_ms_at_10k)} ms | ` +
      `max ${n(r.latency_max_ms)} ms; ${n(r.latency_samples)} samples (3 probe devices, polled every 100 ms); offered ${n(r.latency_offered_rate_per_s)}/s; lost ${n(r.latency_lost)} |`,
  );
  out.push(
    `| idle device connections (keep alive, Last Will, retained status) | ${n(r.connections)}${r.connections < r.connections_requested ? ` of ${n(r.connections_requested)} asked` : ''} | ` +
      `${dec(r.rss_per_connection_kb)} KiB RSS each (mosquitto: ${dec(r.mosquitto_rss_per_connection_kb)} KiB); connected at ${n(r.connect_rate_per_s)}/s |`,
  );
  out.push(
    `| burst: ${n(r.burst_devices)} devices reconnect at once, ${s.burstBatch} buffered readings each | all connected ${dec(r.burst_all_connected_s)} s, acknowledged ${dec(r.burst_all_acked_s)} s, queryable ${dec(r.burst_queryable_s)} s | ` +
      `${n(r.burst_readings)} readings, ${n(r.burst_readings_per_s)} readings/s; ${n(r.burst_failed_devices)} devices failed, ${n(r.burst_retries)} retries; ${n(r.burst_listen_overflows)} SYNs dropped by a full accept queue |`,
  );
  if (Number.isFinite(r.durability_qos1_readings_per_s_fsync) || Number.isFinite(r.durability_qos1_readings_per_s_nofsync)) {
    const rounds = r.durability_runs.filter((x) => x.fsync).length;
    out.push(
      `| cost of durability: QoS 1 end to end with / without the spool's fdatasync (${s.publishers} × ${n(s.messagesPerPublisher)} readings, ${rounds} run${rounds === 1 ? '' : 's'} each) | ` +
        `${n(r.durability_qos1_readings_per_s_fsync)} / ${n(r.durability_qos1_readings_per_s_nofsync)} readings/s | ` +
        `costs ${dec(r.durability_cost_pct)} %; acknowledged ${n(r.durability_qos1_acked_per_s_fsync)} / ${n(r.durability_qos1_acked_per_s_nofsync)}/s; ` +
        `${dec(r.durability_cpu_us_per_reading_fsync)} / ${dec(r.durability_cpu_us_per_reading_nofsync)} µs CPU per reading; ` +
        `${n(r.durability_fdatasyncs)} fdatasyncs (${dec(r.durability_readings_per_fdatasync)} readings each, mean ${dec(r.durability_fdatasync_mean_ms)} ms, max ${dec(r.durability_fdatasync_max_ms)} ms; ` +
        `the disk alone: p50 ${dec(r.durability_disk_fdatasync_p50_ms)} ms, p99 ${dec(r.durability_disk_fdatasync_p99_ms)} ms) |`,
    );
  }
  if (Number.isFinite(r.drain_backlog_readings)) {
    out.push(
      `| drain after a ${dec(r.drain_outage_s)} s InfluxDB outage (stopped), live QoS 1 at ${n(r.drain_live_rate_per_s)} readings/s from ${s.publishers} publishers | ` +
        `backlog ${n(r.drain_backlog_readings)} readings drained at ${n(r.drain_readings_per_s)} readings/s | ` +
        `first write ${dec(r.drain_first_write_s)} s after the restart, back to the live level (${n(r.drain_live_pending)} pending) after ${dec(r.drain_caught_up_s)} s; ` +
        `${n(r.drain_write_readings_per_s)} written/s from the first write; live readings sent during the drain queryable after p50 ${n(r.drain_live_delay_ms_p50)} / p99 ${n(r.drain_live_delay_ms_p99)} / max ${n(r.drain_live_delay_ms_max)} ms ` +
        `(p99 before the outage ${n(r.drain_live_delay_ms_p99_before)} ms, after the drain ${n(r.drain_live_delay_ms_p99_after)} ms); ` +
        `PUBACK mean / max ${n(r.drain_puback_ms_mean_outage)} / ${n(r.drain_puback_ms_max_outage)} ms during the outage, ${n(r.drain_puback_ms_mean_drain)} / ${n(r.drain_puback_ms_max_drain)} ms during the drain; ` +
        `${n(r.drain_readings_acked)} acknowledged, ${n(r.drain_readings_in_influx)} in InfluxDB by seq: ${r.drain_exactly_once ? 'every one exactly once' : `**${n(r.drain_readings_missing)} missing, ${n(r.drain_readings_duplicated)} duplicated**`} |`,
    );
  }
  const soak = formatSoak(r);
  out.push(...soak.rows);
  const cluster = formatCluster(r, s.publishers, s.clusterMessagesPerPublisher);
  out.push(...cluster.rows);
  out.push(...formatResidents(r));
  out.push('');
  out.push('| target | goal | measured | |');
  out.push('|---|---|---:|---|');
  // A phase this run left out (quick, --only) is neither met nor missed here.
  for (const t of r.targets) out.push(`| ${t.name} | ${t.goal} | ${t.measured} | ${t.measured === 'not run' ? '' : t.met ? 'met' : '**missed**'} |`);
  // Not one of the issue's targets (and not in `targets`): beside them for comparison only.
  out.push(`| end to end QoS 1, ${n(r.e2e_batch_readings)} readings per PUBLISH, vs raw InfluxDB write rate (information, not a target) | – | ${Number.isFinite(batchVsRaw) ? pct(batchVsRaw) : 'not run'} | |`);
  out.push('');
  // The cluster phase's consumer and PostgreSQL, the residents' raw server, only when a phase had them.
  const extra = ['consumer', 'postgres', 'raw server'].filter((role) => Object.values(r.processes).some((u) => u[role]));
  const roles = ['citypipe', 'broker', 'influxd', 'generator', ...extra];
  out.push('CPU (average, % of one core; the machine has 2) and peak RSS (MiB) of each process during each phase:');
  out.push('');
  out.push(`| phase | ${roles.join(' | ')} |`);
  out.push(`|---|${roles.map(() => '---:').join('|')}|`);
  for (const [phase, usage] of Object.entries(r.processes)) {
    out.push(`| ${phase} | ${roles.map((role) => (usage[role] ? `${usage[role].cpuPct} % / ${dec(usage[role].rssPeakMb)}` : '')).join(' | ')} |`);
  }
  if (soak.details.length > 0) {
    out.push('');
    out.push(...soak.details);
  }
  if (cluster.details.length > 0) {
    out.push('');
    out.push(...cluster.details);
  }
  if (Object.keys(r.writes).length > 0) {
    out.push('');
    out.push("citypipe's InfluxDB writes (from its own metrics): requests, mean duration, mean lines per request:");
    out.push('');
    out.push('| phase | requests | mean ms | mean lines |');
    out.push('|---|---:|---:|---:|');
    for (const [phase, w] of Object.entries(r.writes)) out.push(`| ${phase} | ${n(w.requests)} | ${n(w.meanMs)} | ${n(w.meanLines)} |`);
  }
  if (Object.keys(r.profiles).length > 0) {
    out.push('');
    out.push('Top self time in the citypipe process (`--cpu-prof`):');
    for (const [phase, fns] of Object.entries(r.profiles)) {
      out.push('');
      out.push(`${phase}:`);
      out.push('');
      out.push(`| self ms | % | ${phase.endsWith('by module') ? 'module' : 'function'} |`);
      out.push('|---:|---:|---|');
      for (const f of fns) out.push(`| ${n(f.selfMs)} | ${f.pct} | \`${f.fn}\` |`);
    }
  }
  if (r.notes.length > 0) {
    out.push('');
    out.push('Notes:');
    out.push('');
    for (const note of r.notes) out.push(`- ${note}`);
  }
  out.push('');
  const tuned = Object.entries(r.run.serviceConfig);
  out.push(
    `citypipe ran as \`citypipe start\` with its shipped defaults${tuned.length ? ', except ' + tuned.map(([k, t]) => `${k}=${t.value} (${t.why})`).join('; ') : ''}.`,
  );
  out.push('');
  out.push(
    `Sizes: ${Object.entries(s)
      .map(([k, val]) => `${k}=${n(val as number)}`)
      .join(', ')}.`,
  );
  return out.join('\n');
}

/**
 * Puts `report` between this mode's markers in `file` (created when missing), leaving the rest of
 * the file, the hand-written analysis, as it is.
 */
export function writeReportBlock(file: string, mode: string, report: string): void {
  const begin = `<!-- bench:${mode}:begin (written by \`citypipe bench\`; edits inside are overwritten) -->`;
  const end = `<!-- bench:${mode}:end -->`;
  const block = `${begin}\n${report}\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# citypipe benchmarks\n';
  const beginRe = new RegExp(`<!-- bench:${mode}:begin[^>]*-->`);
  const b = text.search(beginRe);
  const e = text.indexOf(end);
  const next = b >= 0 && e > b ? text.slice(0, b) + block + text.slice(e + end.length) : `${text.replace(/\n*$/, '\n\n')}${block}\n`;
  writeFileSync(file, next);
}
