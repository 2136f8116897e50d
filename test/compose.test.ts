/**
 * docker-compose.yml as Docker would read it: validated and normalised by Debian's `docker-compose
 * config` (no Docker engine needed), then checked against what citypipe, InfluxDB 2.7 and Grafana
 * expect of each other, and for the `cluster` profile (CONTRACT §8) what EMQX, PostgreSQL and the
 * workers expect of each other: EMQX's hooks are sent, as EMQX would render them, to a citypipe HTTP
 * API configured as the workers are. Without docker-compose the tests fail and say how to install it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../src/config/config.js';
import { DeviceCatalog } from '../src/catalog/catalog.js';
import { hashSecret, verifySecret } from '../src/catalog/secrets.js';
import { buildApp } from '../src/http/app.js';
import { BROKER_AUTHENTICATE_PATH, BROKER_AUTHORIZE_PATH } from '../src/http/broker-auth-routes.js';
import { silentLogger } from '../src/observability/logger.js';
import { parseAccounts } from '../src/security/accounts.js';
import { Authenticator } from '../src/security/authenticator.js';
import { BrokerHooks } from '../src/security/broker-hooks.js';
import { root } from './helpers/cli.js';
import { idleAppDeps } from '../src/http/testing/idle-app-deps.js';

const run = promisify(execFile);

const INSTALL =
  'docker-compose is not installed: `sudo apt-get install docker-compose` on Debian/Ubuntu ' +
  '(or `npm run setup -- --with-test-tools` as root). It only validates the file here; no Docker engine is needed.';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  environment?: Record<string, string | null>;
  ports?: { published: number | string; target: number }[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  healthcheck?: { test: string[] | string };
  networks?: Record<string, { aliases?: string[] } | null>;
}
interface Compose {
  services: Record<string, ComposeService>;
}

let compose: Compose;
/** `docker-compose config --profiles`. */
let profiles: string[];

/** `docker-compose config`, normalised (YAML → JSON with the PyYAML that Debian's docker-compose depends on). */
async function composeConfig(): Promise<Compose> {
  let yaml: string;
  try {
    yaml = (await run('docker-compose', ['--project-directory', root, '-f', path.join(root, 'docker-compose.yml'), 'config'], { cwd: root, env: { PATH: process.env.PATH ?? '' } })).stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(INSTALL);
    throw new Error(`docker-compose config refused docker-compose.yml: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  const json = await new Promise<string>((resolve, reject) => {
    const child = execFile('python3', ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], (err, stdout, stderr) =>
      err ? reject(new Error(`python3 with PyYAML (a dependency of Debian's docker-compose) could not read the output: ${stderr || err.message}. ${INSTALL}`)) : resolve(stdout),
    );
    child.stdin!.end(yaml);
  });
  return JSON.parse(json) as Compose;
}

/** A service's environment as the container sees it (`config` keeps compose's `$$` escape of `$`). */
const env = (service: string): Record<string, string> => {
  const s = compose.services[service];
  if (!s) throw new Error(`docker-compose.yml has no service "${service}"`);
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, (v ?? '').replaceAll('$$', '$')]));
};

/** The services `up` starts with these profiles active (Debian's docker-compose `config` lists all). */
const enabled = (active: string[]) =>
  Object.entries(compose.services)
    .filter(([, s]) => s.profiles === undefined || s.profiles.some((p) => active.includes(p)))
    .map(([name]) => name)
    .sort();

/** The services `up` starts for these names: they and what they depend on. */
function startedBy(names: string[]): string[] {
  const out = new Set<string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    if (!compose.services[name]) throw new Error(`docker-compose.yml has no service "${name}"`);
    out.add(name);
    for (const dep of Object.keys(compose.services[name]!.depends_on ?? {})) visit(dep);
  };
  names.forEach(visit);
  return [...out].sort();
}

/** Mounts as `source:target:mode`; `source` absolute for a bind mount. */
const mounts = (service: string) =>
  (compose.services[service]?.volumes ?? []).map((v) => {
    const [source, target, mode] = v.split(':');
    return { source: source!, target: target!, mode };
  });

let composeError: Error | undefined;
beforeAll(async () => {
  try {
    compose = await composeConfig();
    const listed = await run('docker-compose', ['--project-directory', root, '-f', path.join(root, 'docker-compose.yml'), 'config', '--profiles'], { cwd: root, env: { PATH: process.env.PATH ?? '' } });
    profiles = listed.stdout.split('\n').filter((l) => l.trim() !== '');
  } catch (err) {
    composeError = err as Error;
  }
});

describe('docker-compose.yml', () => {
  // Every test fails (none is skipped) with the reason, e.g. how to install docker-compose.
  beforeEach(() => {
    if (composeError) throw composeError;
  });

  it('is valid for docker-compose and has InfluxDB 2.7, citypipe and Grafana when no profile is given', () => {
    expect(enabled([])).toEqual(['citypipe', 'grafana', 'influxdb']);
    expect(compose.services.influxdb!.image).toMatch(/^influxdb:2\.7(\.\d+)?$/);
    expect(compose.services.grafana!.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(compose.services.citypipe!.build?.context).toBe(root);
    expect(existsSync(path.join(root, compose.services.citypipe!.build?.dockerfile ?? 'Dockerfile'))).toBe(true);
  });

  it('publishes MQTT 1883, citypipe HTTP 8080 and Grafana 3000', () => {
    const published = (s: string) => (compose.services[s]?.ports ?? []).map((p) => `${p.published}:${p.target}`);
    expect(published('citypipe')).toEqual(expect.arrayContaining(['1883:1883', '8080:8080']));
    expect(published('grafana')).toEqual(['3000:3000']);
    expect(env('citypipe')).toMatchObject({ CITYPIPE_MQTT_PORT: '1883', CITYPIPE_HTTP_PORT: '8080' });
  });

  it('initialises InfluxDB with an org, a bucket and a token', () => {
    const e = env('influxdb');
    expect(e.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    for (const k of ['DOCKER_INFLUXDB_INIT_USERNAME', 'DOCKER_INFLUXDB_INIT_PASSWORD', 'DOCKER_INFLUXDB_INIT_ORG', 'DOCKER_INFLUXDB_INIT_BUCKET', 'DOCKER_INFLUXDB_INIT_ADMIN_TOKEN']) {
      expect(e[k], k).toMatch(/\S/);
    }
    // influxd refuses to set up with a password under 8 characters.
    expect(e.DOCKER_INFLUXDB_INIT_PASSWORD!.length).toBeGreaterThanOrEqual(8);
  });

  it('gives citypipe only configuration keys it knows (a stray key stops start-up)', () => {
    const stray: string[] = [];
    for (const [name, s] of Object.entries(compose.services)) {
      for (const k of Object.keys(s.environment ?? {})) if (k.startsWith('CITYPIPE_') && !CONFIG_KEYS.includes(k)) stray.push(`${name}: ${k}`);
    }
    expect(stray).toEqual([]);
    expect(CONFIG_KEYS.length).toBeGreaterThan(10);
  });

  it('points citypipe at that InfluxDB through the v2 API with its org, bucket and token (CONTRACT §6)', () => {
    const e = env('citypipe');
    const influx = env('influxdb');
    expect(e).toMatchObject({
      CITYPIPE_INFLUX_API: 'v2',
      CITYPIPE_INFLUX_BUCKET: influx.DOCKER_INFLUXDB_INIT_BUCKET,
      CITYPIPE_INFLUX_ORG: influx.DOCKER_INFLUXDB_INIT_ORG,
      CITYPIPE_INFLUX_TOKEN: influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN,
    });
    expect(new URL(e.CITYPIPE_INFLUX_URL!).host).toBe('influxdb:8086');
    expect(compose.services.citypipe!.depends_on?.influxdb).toBeDefined();
    // The same environment is a configuration citypipe accepts.
    const config = loadConfig(e);
    expect(config.influx).toMatchObject({ url: 'http://influxdb:8086', api: 'v2', bucket: influx.DOCKER_INFLUXDB_INIT_BUCKET, org: influx.DOCKER_INFLUXDB_INIT_ORG });
    expect(mounts('citypipe').map((m) => m.target)).toContain(config.dataDir);
  });

  it('gives Grafana the provisioning and the boards, and a datasource on that InfluxDB through InfluxQL with the token', () => {
    const m = mounts('grafana');
    const provisioning = m.find((x) => x.target === '/etc/grafana/provisioning');
    expect(provisioning?.source).toBe(path.join(root, 'grafana', 'provisioning'));
    const providerFile = readFileSync(path.join(root, 'grafana', 'provisioning', 'dashboards', 'citypipe.yml'), 'utf8');
    const boardsPath = /^\s*path:\s*(\S+)/m.exec(providerFile)?.[1];
    expect(m.find((x) => x.target === boardsPath)?.source, `a mount for the provider's path ${boardsPath}`).toBe(path.join(root, 'grafana', 'dashboards'));

    const ds = readFileSync(path.join(root, 'grafana', 'provisioning', 'datasources', 'citypipe.yml'), 'utf8');
    expect(ds).toMatch(/^\s*type: influxdb$/m);
    expect(ds).toMatch(/^\s*version: InfluxQL$/m);
    const e = env('grafana');
    const used = [...ds.matchAll(/\$\{(\w+)\}/g)].map((x) => x[1]!);
    expect(used.length).toBeGreaterThan(0);
    for (const v of used) expect(e[v], `Grafana's environment sets ${v} for the datasource`).toMatch(/\S/);
    const influx = env('influxdb');
    const resolved = ds.replace(/\$\{(\w+)\}/g, (_m, v: string) => e[v] ?? '');
    expect(resolved).toMatch(new RegExp(`^\\s*url: http://influxdb:8086$`, 'm'));
    expect(resolved).toMatch(new RegExp(`^\\s*dbName: ${influx.DOCKER_INFLUXDB_INIT_BUCKET}$`, 'm'));
    expect(resolved).toMatch(/^\s*httpHeaderName1: Authorization$/m);
    expect(resolved).toMatch(new RegExp(`^\\s*httpHeaderValue1: Token ${influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN}$`, 'm'));
  });
});

/** The fields `name = "value"` of the HOCON object `key {…}` in an EMQX setting (flat objects only). */
function hoconObject(setting: string, key: string): Record<string, string> {
  // Braces inside it are those of the placeholders `${name}`.
  const body = new RegExp(`\\b${key}\\s*\\{((?:[^{}]|\\$\\{\\w+\\})*)\\}`).exec(setting)?.[1];
  if (body === undefined) throw new Error(`no ${key} {…} in ${setting}`);
  return Object.fromEntries([...body.matchAll(/"?([\w-]+)"?\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
}
const hoconField = (setting: string, key: string) => new RegExp(`\\b${key}\\s*=\\s*"?([^",}\\s]+)"?`).exec(setting)?.[1];

/** What EMQX sends: its body template with the placeholders `${name}` filled in. */
const render = (template: Record<string, string>, values: Record<string, string>) =>
  Object.fromEntries(Object.entries(template).map(([k, v]) => [k, v.replace(/\$\{(\w+)\}/g, (_m, name: string) => values[name] ?? '')]));

describe('docker-compose.yml, the cluster profile (CONTRACT §8)', () => {
  const WORKERS = ['citypipe-1', 'citypipe-2'];
  const NODES = ['emqx1', 'emqx2'];

  beforeEach(() => {
    if (composeError) throw composeError;
  });

  it('starts, with the command its header gives, the cluster and not the single node; only that one profile exists', () => {
    expect(profiles).toEqual(['cluster']);
    expect(enabled(['cluster'])).toEqual(['citypipe', 'citypipe-1', 'citypipe-2', 'emqx1', 'emqx2', 'grafana', 'influxdb', 'postgres']);
    const file = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    const command = /^#\s+docker compose --profile cluster up --build ([\w -]+)$/m.exec(file)?.[1];
    expect(command, 'the header names the services to start').toBeDefined();
    expect(startedBy(command!.trim().split(/\s+/))).toEqual(['citypipe-1', 'citypipe-2', 'emqx1', 'emqx2', 'grafana', 'influxdb', 'postgres']);
  });

  it('publishes no host port twice, so that even a bare --profile cluster up starts', () => {
    const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [String(p.published), name] as const));
    const seen = new Map<string, string>();
    for (const [port, name] of published) {
      expect(seen.get(port), `host port ${port} of ${name}`).toBeUndefined();
      seen.set(port, name);
    }
  });

  it('runs two EMQX 5.8 nodes with long names that each name both as static seeds, and one cookie', () => {
    const names: string[] = [];
    for (const node of NODES) {
      const s = compose.services[node]!;
      expect(s.image).toMatch(/^emqx\/emqx:5\.8\.\d+$/);
      expect(s.healthcheck?.test).toEqual(['CMD', '/opt/emqx/bin/emqx', 'ctl', 'status']);
      const e = env(node);
      const host = /^emqx@(.+)$/.exec(e.EMQX_NODE_NAME ?? '')?.[1];
      // EMQX runs Erlang with long names: the host needs a dot, and the other node must resolve it.
      expect(host, node).toMatch(/^[\w-]+(\.[\w-]+)+$/);
      expect(s.networks?.default?.aliases ?? []).toContain(host);
      names.push(e.EMQX_NODE_NAME!);
      expect(e.EMQX_CLUSTER__DISCOVERY_STRATEGY).toBe('static');
    }
    for (const node of NODES) {
      const seeds = /^\[(.*)\]$/.exec(env(node).EMQX_CLUSTER__STATIC__SEEDS ?? '')?.[1]?.split(',').map((x) => x.trim().replace(/^"|"$/g, ''));
      expect(seeds?.sort(), node).toEqual([...names].sort());
    }
    expect(new Set(NODES.map((n) => env(n).EMQX_NODE__COOKIE)).size).toBe(1);
    expect(env(NODES[0]!).EMQX_NODE__COOKIE).toMatch(/\S/);
  });

  it('gives each worker its own worker id, data volume and EMQX node, in a configuration citypipe accepts', () => {
    const ids = new Set<string>();
    const volumes = new Set<string>();
    const influx = env('influxdb');
    for (const worker of WORKERS) {
      const e = env(worker);
      for (const k of Object.keys(e)) if (k.startsWith('CITYPIPE_')) expect(CONFIG_KEYS, `${worker}: ${k}`).toContain(k);
      const config = loadConfig(e);
      const broker = config.externalBroker;
      expect(broker, `${worker} consumes from the cluster`).toBeDefined();
      ids.add(broker!.workerId);
      expect(broker!.shareGroup).toBe(env(WORKERS[0]!).CITYPIPE_SHARE_GROUP);
      const url = new URL(broker!.url);
      expect(NODES).toContain(url.hostname);
      expect(url.port).toBe('1883');
      const data = mounts(worker).find((m) => m.target === config.dataDir);
      expect(data, `${worker} keeps its spool on a volume`).toBeDefined();
      expect(data!.source).not.toMatch(/^\//);
      volumes.add(data!.source);
      expect(config.influx).toMatchObject({ url: 'http://influxdb:8086', api: 'v2', bucket: influx.DOCKER_INFLUXDB_INIT_BUCKET, org: influx.DOCKER_INFLUXDB_INIT_ORG, token: influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN });
      const db = new URL(config.databaseUrl ?? 'missing:');
      const pg = env('postgres');
      expect([db.protocol, db.hostname, db.username, decodeURIComponent(db.password), db.pathname]).toEqual(['postgres:', 'postgres', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, `/${pg.POSTGRES_DB}`]);
    }
    expect(ids.size).toBe(WORKERS.length);
    expect(volumes.size).toBe(WORKERS.length);
    expect(volumes.has(mounts('citypipe').find((m) => m.target === '/var/lib/citypipe')!.source)).toBe(false);
    expect(new Set(WORKERS.map((w) => env(w).CITYPIPE_BROKER_URL)).size, 'one worker per EMQX node').toBe(NODES.length);
    expect(compose.services.postgres!.image).toBe('postgres:15');
  });

  it('starts each worker after InfluxDB, PostgreSQL and both EMQX nodes are healthy, each with a healthcheck', () => {
    for (const worker of WORKERS) {
      const deps = compose.services[worker]!.depends_on ?? {};
      expect(Object.keys(deps).sort()).toEqual(['emqx1', 'emqx2', 'influxdb', 'postgres']);
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect(condition, `${worker} → ${dep}`).toBe('service_healthy');
        expect(compose.services[dep]!.healthcheck?.test, `${dep} has a healthcheck`).toBeDefined();
      }
    }
  });

  it('lets the workers log in to EMQX with a worker account that every worker can verify', () => {
    for (const worker of WORKERS) {
      const e = env(worker);
      const parsed = parseAccounts(e.CITYPIPE_MQTT_ACCOUNTS ?? '');
      expect(parsed.ok, `${worker}: CITYPIPE_MQTT_ACCOUNTS`).toBe(true);
      const account = (parsed as { accounts: { name: string; role: string; secretHash: string }[] }).accounts.find((a) => a.name === e.CITYPIPE_BROKER_USERNAME);
      expect(account?.role, `${worker}: ${e.CITYPIPE_BROKER_USERNAME} is a worker account`).toBe('worker');
      expect(verifySecret(e.CITYPIPE_BROKER_PASSWORD ?? '', account!.secretHash), `${worker}: CITYPIPE_BROKER_PASSWORD matches its hash`).toBe(true);
    }
  });

  it('sends every EMQX node\'s authentication and authorization to the workers\' hooks, which answer what EMQX sends', async () => {
    const worker = env(WORKERS[0]!);
    const config = loadConfig(worker);
    for (const node of NODES) {
      const e = env(node);
      const authn = e.EMQX_AUTHENTICATION__1 ?? '';
      const authz = e.EMQX_AUTHORIZATION__SOURCES ?? '';
      expect([hoconField(authn, 'mechanism'), hoconField(authn, 'backend'), hoconField(authn, 'method')]).toEqual(['password_based', 'http', 'post']);
      // A list replaces EMQX's default sources (a file source that ends in "allow all"): one source, ours.
      expect(authz.trim()).toMatch(/^\[\{[^[\]]*\}\]$/);
      expect([hoconField(authz, 'type'), hoconField(authz, 'method')]).toEqual(['http', 'post']);
      expect(e.EMQX_AUTHORIZATION__NO_MATCH).toBe('deny');
      for (const [setting, route] of [[authn, BROKER_AUTHENTICATE_PATH], [authz, BROKER_AUTHORIZE_PATH]] as const) {
        const url = new URL(hoconField(setting, 'url') ?? 'missing:');
        expect(url.pathname).toBe(route);
        expect(url.port).toBe(String(config.http.port));
        // Every worker answers under that name.
        for (const w of WORKERS) expect(compose.services[w]!.networks?.default?.aliases ?? [w], `${w} answers as ${url.hostname}`).toContain(url.hostname);
        expect(hoconObject(setting, 'headers')).toEqual({ 'content-type': 'application/json', authorization: `Bearer ${config.http.brokerAuthToken}` });
      }
      for (const w of WORKERS) expect(env(w).CITYPIPE_BROKER_AUTH_TOKEN).toBe(config.http.brokerAuthToken);

      // The hooks of a worker configured so, asked what EMQX asks.
      const secret = 'a-device-secret-0123456789abcdef';
      const catalog = DeviceCatalog.fromRecords([{ id: 'bin-0001', type: 'waste-bin', location: { lat: 52.37, lon: 4.89 }, district: 'centrum', secretHash: hashSecret(secret) }]);
      const authenticator = new Authenticator(() => catalog, config.mqtt.accounts);
      const app = buildApp({
        ...idleAppDeps(),
        security: { token: config.http.token, brokerAuthToken: config.http.brokerAuthToken, ratePerS: config.http.ratePerS },
        brokerAuth: { hooks: new BrokerHooks({ authenticator, connectRatePerS: config.mqtt.limits.ipConnectRate, log: silentLogger }) },
      });
      try {
        const ask = async (setting: string, values: Record<string, string>) => {
          const res = await app.inject({ method: 'POST', url: new URL(hoconField(setting, 'url')!).pathname, headers: hoconObject(setting, 'headers'), payload: JSON.stringify(render(hoconObject(setting, 'body'), values)) });
          expect(res.statusCode, res.body).toBe(200);
          return (res.json() as { result: string }).result;
        };
        const client = { clientid: 'bin-0001', username: 'bin-0001', peerhost: '172.18.0.9' };
        expect(await ask(authn, { ...client, password: secret })).toBe('allow');
        expect(await ask(authn, { ...client, password: 'not-its-secret' })).toBe('deny');
        const workerClient = { clientid: `${config.externalBroker!.workerId}-0`, username: worker.CITYPIPE_BROKER_USERNAME!, peerhost: '172.18.0.5' };
        expect(await ask(authn, { ...workerClient, password: worker.CITYPIPE_BROKER_PASSWORD! })).toBe('allow');
        expect(await ask(authz, { ...client, action: 'publish', topic: 'city/waste-bin/bin-0001/telemetry' })).toBe('allow');
        expect(await ask(authz, { ...client, action: 'publish', topic: 'city/waste-bin/bin-0002/telemetry' })).toBe('deny');
        // EMQX asks about a shared subscription without its $share/{group}/.
        expect(await ask(authz, { ...workerClient, action: 'subscribe', topic: 'city/+/+/telemetry' })).toBe('allow');
        expect(await ask(authz, { ...workerClient, action: 'publish', topic: 'city/events/waste-bin/bin-0001' })).toBe('allow');
      } finally {
        await app.close();
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('copies every file the build compiles (as tsc lists them), and .dockerignore hides none of them', async () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const { stdout } = await run(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--listFilesOnly'], { cwd: root });
    const compiled = stdout
      .split('\n')
      .map((f) => path.relative(root, f.trim()))
      .filter((f) => f && !f.startsWith('..') && !f.startsWith('node_modules'));
    expect(compiled.length).toBeGreaterThan(50);
    // The build stage: every COPY before the second FROM.
    const buildStage = dockerfile.split(/^FROM /m)[1] ?? '';
    const copied = [...buildStage.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((x) => x[1]!.split(/\s+/));
    for (const src of copied) expect(existsSync(path.join(root, src)), `COPY source ${src}`).toBe(true);
    const covered = (f: string) => copied.some((c) => f === c || f.startsWith(c.replace(/\/?$/, '/')));
    expect(compiled.filter((f) => !covered(f)), 'compiled files no COPY brings into the image').toEqual([]);
    // .dockerignore: plain patterns, `dir/*` and `!exceptions`, which is all this repo's file uses.
    const hidden = (f: string) => {
      let out = false;
      for (const rule of ignored) {
        const negate = rule.startsWith('!');
        const pattern = (negate ? rule.slice(1) : rule).replace(/\/\*$/, '/');
        const match = pattern.endsWith('/') ? f.startsWith(pattern) : f === pattern || f.startsWith(`${pattern}/`) || (pattern.startsWith('*') && f.endsWith(pattern.slice(1)));
        if (match) out = !negate;
      }
      return out;
    };
    expect(compiled.filter(hidden), 'compiled files .dockerignore keeps out of the build context').toEqual([]);
  }, 120_000); // tsc reads the whole program: seconds alone, much longer beside a busy test run

  it('runs `citypipe start`, not as root, exposing MQTT and HTTP', () => {
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/citypipe\.js", "start"\]$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^EXPOSE 1883 8080$/m);
  });
});
