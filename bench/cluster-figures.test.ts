import { describe, expect, it } from 'vitest';
import { CLUSTER_PROMISES, canShowScaling, clusterFigures, formatCluster, type ClusterMode, type ClusterRun } from './cluster-figures.js';

function run(mode: ClusterMode, readingsPerS: number, vsBrokerOnly: number): ClusterRun {
  const workers = mode === 'broker-only' ? 0 : mode === 'one-worker' ? 1 : 2;
  return {
    mode,
    workers,
    connections: 4,
    sent: 50_000,
    acked: 50_000,
    delivered: 50_000,
    seconds: 50_000 / readingsPerS,
    readingsPerS,
    ackedPerS: 20_000,
    cpuUsPerReading: { workers: 100, broker: 20, postgres: workers ? 30 : Number.NaN },
    vsBrokerOnly,
    dispatchState: workers ? 'postgres' : 'none',
    promise: CLUSTER_PROMISES[mode],
  };
}

const runs = [run('broker-only', 20_000, 1), run('one-worker', 2_000, 0.1), run('two-workers', 3_000, 0.15)];

describe('cluster figures', () => {
  it('flat figures: each mode, the ratio of two workers to one, NaN for a phase that did not run', () => {
    const f = clusterFigures(runs, 2);
    expect(f.cluster_broker_only_msgs_per_s).toBe(20_000);
    expect(f.cluster_one_worker_vs_broker_only).toBe(0.1);
    expect(f.cluster_two_workers_readings_per_s).toBe(3_000);
    expect(f.cluster_two_vs_one_worker).toBe(1.5);
    expect(f.cluster_connections_per_worker).toBe(4);
    const none = clusterFigures(undefined, 2);
    expect(none.cluster_one_worker_readings_per_s).toBeNaN();
    expect(none.cluster_two_vs_one_worker).toBeNaN();
    expect(none.cluster_runs).toEqual([]);
  });

  it("each row states its mode's delivery promise: the broker's memory for (a), the worker's fsync for (b) and (c)", () => {
    const { rows } = formatCluster(clusterFigures(runs, 8), 100, 500);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toContain('in memory');
    expect(rows[0]).not.toContain('fsync');
    for (const row of rows.slice(1)) {
      expect(row).toContain("PUBACK to Mosquitto comes after its spool's fsync");
      expect(row).toContain('persistence true');
    }
    expect(rows[1]).toContain('10 % of cluster (a)');
  });

  it('says plainly that two workers on 2 cores cannot show scaling, and does not on a machine with cores to spare', () => {
    const small = formatCluster(clusterFigures(runs, 2), 100, 500);
    expect(small.rows[2]).toContain('cannot show scaling');
    expect(small.rows[1]).not.toContain('cannot show scaling');
    expect(small.details.join('\n')).toContain('150 %');
    const big = formatCluster(clusterFigures(runs, 8), 100, 500);
    expect(big.rows[2]).not.toContain('cannot show scaling');
    expect(canShowScaling(2, 2)).toBe(false);
    expect(canShowScaling(5, 2)).toBe(true);
  });

  it('a run without the phase has no rows', () => {
    expect(formatCluster(clusterFigures(undefined, 2), 100, 500)).toEqual({ rows: [], details: [] });
  });
});
