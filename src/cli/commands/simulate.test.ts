import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import { demoCredentialsFile, packageRoot } from '../../paths.js';
import { devicesGenerate, type DevicesIo } from './devices.js';
import { planSimulation, registerSimulateCommand, SimulateUsageError, type SimulateOptions } from './simulate.js';

const HOUR = 3_600_000;
const NOW = Date.now();
const cheap = { hash: async (secret: string) => `scrypt$1024$8$1$c2FsdHNhbHQ$${Buffer.from(secret).toString('base64url')}` };
const quietIo: DevicesIo = { out: () => undefined, err: () => undefined, exit: () => undefined };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'citypipe-simulate-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (env: Record<string, string> = {}) => loadConfig({ CITYPIPE_DEVICES_DIR: dir, ...env });

describe('planSimulation', () => {
  it('simulates a generated catalog file with the credentials written beside it', async () => {
    const file = path.join(dir, 'fleet.json');
    expect(await devicesGenerate(() => dir, { count: '25', districts: '3', out: file }, quietIo, cheap)).toBe(0);
    const plan = await planSimulation({ catalog: file, speed: '60', from: '-12h', atNow: 'stop', connections: '5', faultRate: '10' }, config(), NOW);
    expect(plan.catalogSource).toBe(file);
    expect(plan.fleet.devices).toHaveLength(25);
    expect(plan.withoutSecret).toBe(0);
    expect(plan.credentialsFiles).toEqual([path.join(dir, '.fleet.credentials.json')]);
    expect(plan.fleet).toMatchObject({ speed: 60, from: { agoMs: 12 * HOUR }, atNow: 'stop', connections: 5, faultRate: 10, qos: 1, mqttUrl: 'mqtt://127.0.0.1:1883' });
  });

  it('reads the service’s catalog folder by default, with the demo credentials and every generated file’s', async () => {
    expect(await devicesGenerate(() => dir, { count: '10', districts: '2' }, quietIo, cheap)).toBe(0);
    await copyFile(path.join(packageRoot, 'simulators', 'demo-fleet', 'waste-bins.json'), path.join(dir, 'waste-bins.json'));
    await writeFile(path.join(dir, 'extra.json'), JSON.stringify([{ id: 'lonely-1', type: 'streetlight', district: 'west', location: { lat: 52.37, lon: 4.86 } }]));
    const plan = await planSimulation({}, config({ CITYPIPE_MQTT_PORT: '18830', CITYPIPE_MAX_BATCH: '500', CITYPIPE_TS_MAX_AGE_S: '86400' }), NOW);
    expect(plan.catalogSource).toBe(dir);
    expect(plan.fleet.devices).toHaveLength(16 + 10 + 1);
    expect(plan.credentialsFiles).toEqual([demoCredentialsFile, path.join(dir, '.generated.credentials.json')]);
    expect(plan.withoutSecret).toBe(1);
    // What citypipe accepts, so the simulator stays inside it.
    expect(plan.fleet).toMatchObject({ mqttUrl: 'mqtt://127.0.0.1:18830', speed: 1, atNow: 'live', maxBatch: 500, maxAgeMs: 86_400_000 });
    expect(plan.fleet.from).toEqual({ agoMs: 0 });
    // Faster than real time, the run starts a day back unless told otherwise.
    expect((await planSimulation({ speed: '60' }, config(), NOW)).fleet.from).toEqual({ agoMs: 24 * HOUR });
  });

  const usage: Array<[string, SimulateOptions, string]> = [
    ['a start older than citypipe keeps', { speed: '60', from: '-8d' }, '--from: '],
    ['a start in the future', { speed: '60', from: new Date(NOW + HOUR).toISOString() }, 'is in the future'],
    ['an unreadable start', { speed: '60', from: 'yesterday' }, '--from: expected now, an ISO 8601 time'],
    ['stopping at the present at real speed', { atNow: 'stop' }, '--at-now stop: at --speed 1'],
    ['a speed below 1', { speed: '0.5' }, '--speed: expected simulated seconds per real second, ≥ 1, got "0.5"'],
    ['zero connections', { connections: '0' }, '--connections: expected a whole number ≥ 1'],
    ['a negative fault rate', { faultRate: '-1' }, '--fault-rate: expected a number ≥ 0'],
    ['QoS 2', { qos: '2' }, '--qos: expected 0 or 1'],
    ['an unknown --at-now', { atNow: 'later', speed: '5' }, '--at-now: expected live or stop'],
  ];
  it.each(usage)('refuses %s', async (_name, opts, message) => {
    const err = await planSimulation(opts, config(), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimulateUsageError);
    expect((err as Error).message).toContain(message);
  });

  it('refuses a start older than a citypipe configured to keep less', async () => {
    await expect(planSimulation({ speed: '60', from: '-25h' }, config({ CITYPIPE_TS_MAX_AGE_S: '86400' }), NOW)).rejects.toThrow('no earlier than -23h45m');
  });

  it('refuses a credentials file that is not there', async () => {
    await expect(planSimulation({ credentials: [path.join(dir, 'nope.json')] }, config(), NOW)).rejects.toThrow('does not exist');
  });
});

describe('simulate --help', () => {
  it('says what happens at the present, that multiplexed connections are anonymous, and that credentials are for simulation', () => {
    const program = new Command();
    registerSimulateCommand(program);
    const cmd = program.commands.find((c) => c.name() === 'simulate')!;
    let help = '';
    cmd.configureOutput({ writeOut: (t) => void (help += t) });
    cmd.outputHelp();
    const flat = help.replace(/\s+/g, ' ');
    expect(flat).toContain('--at-now live (default) the fleet carries on in real time');
    expect(flat).toContain('--at-now stop the run ends');
    expect(flat).toContain('connections are anonymous');
    expect(flat).toContain('only in lab mode (CITYPIPE_MQTT_OPEN=true)');
    expect(flat).toContain('FOR SIMULATION ONLY');
    expect(flat).toContain('less 15 minutes');
    expect(flat).not.toContain('(default: [])');
  });
});
