/**
 * The CLI as scripts and people meet it: `node bin/citypipe.js …` spawned with pipes (what a script
 * sees) or under `script(1)` (a terminal), checking exit codes, help, colour and progress.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, influxQuery, uniqueDbName } from './helpers/influx.js';
import { connectClient, testDevice, testEnv, writeCatalog } from './helpers/service.js';
import { waitFor } from './helpers/wait.js';
import { killChildren, root, spawnCli, startServiceProcess, type StartedService } from './helpers/cli.js';

const influxUrl = inject('influxUrl');
const ESC = /\x1b\[/;

/**
 * Tests that spawn a few CLI processes: 1–3 s alone, up to 15 s measured beside two CPU hogs (each
 * `node bin/citypipe.js` start costs a second or more then); the default 30 s is too close.
 */
const CLI_TEST_MS = 60_000;

// Not after each test: the service of the replay tests lives across them.
afterAll(killChildren);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with pipes for stdout and stderr. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Runs a command on a pseudo-terminal (util-linux `script`); stdout and stderr arrive mixed. */
async function onTerminal(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const command = ['node', path.join(root, 'bin', 'citypipe.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm-256color', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, output };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const COMMANDS = [
  [],
  ['start'],
  ['demo'],
  ['simulate'],
  ['bench'],
  ['devices'],
  ['devices', 'add'],
  ['devices', 'list'],
  ['devices', 'rotate-secret'],
  ['devices', 'revoke'],
  ['devices', 'account'],
  ['devices', 'generate'],
  ['dead-letters'],
  ['dead-letters', 'list'],
  ['dead-letters', 'replay'],
];

describe('--help', { timeout: CLI_TEST_MS }, () => {
  it('exits 0 with a usage, a summary and, on commands people run, examples; on every command and subcommand', async () => {
    const runs = await Promise.all(COMMANDS.map(async (c) => ({ c, r: await cli([...c, '--help']) })));
    for (const { c, r } of runs) {
      const name = ['citypipe', ...c].join(' ');
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^Usage: ${name.replace(/-/g, '\\-')} `));
      expect(r.stderr, name).toBe('');
      expect(r.stdout, name).not.toMatch(ESC);
      if (c.length > 0 && c[0] !== 'devices' && c[0] !== 'dead-letters') expect(r.stdout, name).toContain('Examples');
      if (c.length === 2) expect(r.stdout, name).toContain('Examples');
    }
    const rootHelp = runs[0]!.r.stdout;
    expect(rootHelp).toMatch(/^Exit codes$/m);
    expect(rootHelp).toMatch(/^ {2}3 +unavailable/m);
    expect(rootHelp).toMatch(/^ {2}130 +interrupted/m);
  }, 90_000);

  it('`help <command>` works as well, and a pipe closed early is not an error', async () => {
    const r = await cli(['help', 'devices']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: citypipe devices /);
    // `true` exits without reading: citypipe's write then meets a closed pipe.
    const sh = spawn('sh', ['-c', `node '${path.join(root, 'bin', 'citypipe.js')}' --help | true`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    sh.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise((resolve) => sh.on('exit', resolve));
    expect(err).toBe('');
  });
});

describe('exit codes', { timeout: CLI_TEST_MS }, () => {
  it('2 for commander’s own usage errors: an unknown option or command, a missing argument or subcommand', async () => {
    const [option, command, argument, subcommand] = await Promise.all([
      cli(['--bogus']),
      cli(['frobnicate']),
      cli(['devices', 'rotate-secret']),
      cli(['devices']),
    ]);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/^error: unknown option '--bogus'/);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(argument.code).toBe(2);
    expect(argument.stderr).toMatch(/missing required argument 'id'/);
    expect(subcommand.code).toBe(2);
    expect(subcommand.stderr).toMatch(/Usage: citypipe devices/);
  });

  it('2 for a bad option value and for a bad CITYPIPE_* value', async () => {
    const [limit, reason, config] = await Promise.all([
      cli(['dead-letters', 'list', '--limit', '0', '--url', 'http://127.0.0.1:9']),
      cli(['dead-letters', 'replay', '--reason', 'bogus', '--url', 'http://127.0.0.1:9']),
      cli(['devices', 'list'], { CITYPIPE_MQTT_PORT: 'eighteen' }),
    ]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toBe('citypipe: dead-letters: --limit: expected a whole number 1..1000, got "0"\n');
    expect(reason.code).toBe(2);
    expect(reason.stderr).toMatch(/--reason: unknown reason "bogus"; one of invalid_topic, /);
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/CITYPIPE_MQTT_PORT: .*\[CP_ERR_CONFIG_INVALID\]/);
  });

  it('3 when no citypipe answers at the URL, for list and replay', async () => {
    const port = await closedPort();
    const [list, replay] = await Promise.all([
      cli(['dead-letters', 'list', '--url', `http://127.0.0.1:${port}`]),
      cli(['dead-letters', 'replay'], { CITYPIPE_HTTP_HOST: '127.0.0.1', CITYPIPE_HTTP_PORT: String(port) }),
    ]);
    expect(list.code).toBe(3);
    expect(list.stderr).toMatch(new RegExp(`^citypipe: cannot reach citypipe at http://127\\.0\\.0\\.1:${port} .*is it running\\?`));
    // A message for people, not a stack trace.
    expect(list.stderr).not.toMatch(/\n\s+at /);
    expect(replay.code).toBe(3);
    expect(replay.stdout).toBe('');
  });

  it('4 for rotate-secret or revoke of a device that is not in the catalog; 0 for one that is', async () => {
    const dir = writeCatalog([testDevice('waste-bin', 'oost')]);
    const env = { CITYPIPE_DEVICES_DIR: dir };
    const [rotate, revoke] = await Promise.all([cli(['devices', 'rotate-secret', 'bin-nobody'], env), cli(['devices', 'revoke', 'bin-nobody'], env)]);
    expect(rotate.code).toBe(4);
    expect(rotate.stderr).toMatch(/^citypipe devices: no device bin-nobody in the catalog at /);
    expect(revoke.code).toBe(4);
    const list = await cli(['devices', 'list', '--json'], env);
    expect(list.code).toBe(0);
    const [known] = JSON.parse(list.stdout) as { id: string }[];
    expect((await cli(['devices', 'rotate-secret', known!.id, '--json'], env)).code).toBe(0);
  });

  it('130 when Ctrl-C cuts a `simulate --at-now stop` run short; 0 when it ends a live run', async () => {
    const port = await closedPort();
    const args = ['simulate', '--mqtt-url', `mqtt://127.0.0.1:${port}`, '--no-progress', '--catalog', path.join(root, 'simulators', 'demo-fleet')];
    const env = { CITYPIPE_LOG_LEVEL: 'silent' };
    const toPresent = spawnCli([...args, '--speed', '60', '--from', '-2h', '--at-now', 'stop'], env);
    const live = spawnCli(args, env);
    // 3–6 s, but once over 10 s beside two CPU hogs and the bench: a generous deadline.
    for (const p of [toPresent, live]) await waitFor('simulate to start', () => p.stdout().includes('simulating '), 30_000);
    toPresent.child.kill('SIGINT');
    live.child.kill('SIGINT');
    expect(await toPresent.exited).toBe(130);
    expect(await live.exited).toBe(0);
  });
});

describe('colour', { timeout: CLI_TEST_MS }, () => {
  const dir = () => writeCatalog([testDevice('waste-bin', 'oost')]);

  it('none through pipes; FORCE_COLOR=1 turns it on; --json output never has any', async () => {
    const env = { CITYPIPE_DEVICES_DIR: dir() };
    const [piped, forced, json] = await Promise.all([
      cli(['devices', 'rotate-secret', 'bin-nobody'], env),
      cli(['devices', 'rotate-secret', 'bin-nobody'], { ...env, FORCE_COLOR: '1' }),
      cli(['devices', 'list', '--json'], { ...env, FORCE_COLOR: '1' }),
    ]);
    expect(piped.stderr).toMatch(/^citypipe devices: no device/);
    expect(piped.stderr + piped.stdout).not.toMatch(ESC);
    expect(forced.code).toBe(4);
    expect(forced.stderr).toMatch(/^\x1b\[31mcitypipe devices: no device bin-nobody .*\x1b\[39m\n$/);
    expect(json.stdout).not.toMatch(ESC);
    expect(JSON.parse(json.stdout)).toHaveLength(1);

    const usage = await cli(['--bogus'], { FORCE_COLOR: '1' });
    expect(usage.stderr).toMatch(/^\x1b\[31merror: unknown option '--bogus'/);
  });

  it('on a terminal by default; NO_COLOR and TERM=dumb win over the terminal', async () => {
    const env = { CITYPIPE_DEVICES_DIR: dir() };
    const [tty, noColor, dumb] = await Promise.all([
      onTerminal(['devices', 'rotate-secret', 'bin-nobody'], env),
      onTerminal(['devices', 'rotate-secret', 'bin-nobody'], { ...env, NO_COLOR: '1' }),
      onTerminal(['devices', 'rotate-secret', 'bin-nobody'], { ...env, TERM: 'dumb' }),
    ]);
    expect(tty.code).toBe(4);
    expect(tty.output).toContain('\x1b[31mcitypipe devices: no device bin-nobody');
    expect(noColor.code).toBe(4);
    expect(noColor.output).toContain('citypipe devices: no device bin-nobody');
    expect(noColor.output).not.toMatch(ESC);
    expect(dumb.output).not.toMatch(ESC);
  });
});

describe('dead-letters replay against a running service', () => {
  const token = 'cli-e2e-token-0123456789';
  let svc: StartedService;
  let env: Record<string, string>;
  let db: string;

  beforeAll(async () => {
    db = uniqueDbName('cli');
    await createDatabase(influxUrl, db);
    const devicesDir = writeCatalog([testDevice('waste-bin', 'oost')]);
    env = testEnv(influxUrl, db, devicesDir, { CITYPIPE_MQTT_OPEN: 'true', CITYPIPE_HTTP_TOKEN: token });
    svc = await startServiceProcess(env);
    env = { ...env, CITYPIPE_HTTP_PORT: String(svc.httpPort), CITYPIPE_LOG_LEVEL: 'silent' };
  });
  afterAll(async () => {
    svc.child.kill('SIGTERM');
    await svc.exited;
  });

  /** Readings from devices not in the catalog (lab mode lets them connect): `unknown_device` dead letters. */
  async function publishUnknown(id: string, n: number): Promise<void> {
    const client = await connectClient(`mqtt://127.0.0.1:${svc.mqttPort}`, { clientId: `pub-${id}` });
    for (let i = 0; i < n; i++) {
      await client.publishAsync(`city/waste-bin/${id}/telemetry`, JSON.stringify({ fillingLevel: 0.5, seq: i, ts: Date.now() - (n - i) * 1000 }), { qos: 1 });
    }
    await client.endAsync();
  }

  async function deadLetters(): Promise<{ total: number; items: { id: number; deviceId: string }[] }> {
    const r = await cli(['dead-letters', 'list', '--json', '--limit', '1000', '--reason', 'unknown_device'], env);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { total: number; items: { id: number; deviceId: string }[] };
  }

  it('replays in chunks once the device is registered: one summary line through a pipe, nothing on stderr', async () => {
    await publishUnknown('bin-late', 23);
    await waitFor('23 dead letters', async () => (await deadLetters()).total === 23 || undefined);

    const wrongToken = await cli(['dead-letters', 'replay'], { ...env, CITYPIPE_HTTP_TOKEN: 'not-the-token-0123456789' });
    expect(wrongToken.code).toBe(2);
    expect(wrongToken.stderr).toMatch(/answered 401: .*set CITYPIPE_HTTP_TOKEN/);

    const add = await cli(['devices', 'add', '--id', 'bin-late', '--type', 'waste-bin', '--district', 'west', '--lat', '52.37', '--lon', '4.87', '--json'], env);
    expect(add.code, add.stderr).toBe(0);
    await waitFor('the service to reload its catalog', async () => {
      const res = await fetch(`http://127.0.0.1:${svc.httpPort}/api/devices/bin-late`, { headers: { authorization: `Bearer ${token}` } });
      return res.ok || undefined;
    });

    const r = await cli(['dead-letters', 'replay', '--reason', 'unknown_device', '--chunk', '5'], { ...env, FORCE_COLOR: '0' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^replayed 23 of 23 dead letters; they were validated again: written, or dead-lettered again with their current reason\n$/);

    await waitFor('the 23 readings in InfluxDB', async () => {
      const q = await influxQuery(influxUrl, db, `SELECT count(fillingLevel) FROM waste_bin WHERE device_id = 'bin-late' AND district = 'west'`);
      return q[0]?.count === 23 || undefined;
    });
    expect((await deadLetters()).total).toBe(0);
  }, 90_000);

  it('shows "replayed N of M" on a terminal, keeps --json clean, and never replays what it dead-lettered again', async () => {
    await publishUnknown('bin-stranger', 12);
    await waitFor('12 dead letters', async () => (await deadLetters()).total === 12 || undefined);
    const before = await deadLetters();

    const tty = await onTerminal(['dead-letters', 'replay', '--reason', 'unknown_device', '--chunk', '4'], env);
    expect(tty.code, tty.output).toBe(0);
    expect(tty.output).toMatch(/\r\x1b\[2K\x1b\[2mreplayed\x1b\[22m \x1b\[1m4\x1b\[22m \x1b\[2mof\x1b\[22m \x1b\[1m12\x1b\[22m/);
    expect(tty.output).toMatch(/\x1b\[1m12\x1b\[22m \x1b\[2mof\x1b\[22m \x1b\[1m12\x1b\[22m/);
    expect(tty.output).toContain('replayed 12 of 12 dead letters');

    // Still unknown: all 12 come back, with new ids, and exactly 12.
    const after = await waitFor('the 12 to be dead-lettered again', async () => {
      const d = await deadLetters();
      return d.total === 12 && d.items.every((i) => i.id > Math.max(...before.items.map((b) => b.id))) ? d : undefined;
    });
    expect(after.total).toBe(12);

    const json = await cli(['dead-letters', 'replay', '--reason', 'unknown_device', '--chunk', '5', '--json'], { ...env, FORCE_COLOR: '1' });
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toMatch(ESC);
    expect(json.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(json.stdout)).toEqual({ total: 12, replayed: 12, skipped: [] });
    expect(json.stderr).toBe('');
  }, 90_000);
});
