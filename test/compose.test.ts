/**
 * docker-compose.yml as Docker would read it: validated and normalised by Debian's `docker-compose
 * config` (no Docker engine needed), then checked against what citypipe, InfluxDB 2.7 and Grafana
 * expect of each other. Without docker-compose the tests fail and say how to install it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig } from '../src/config/config.js';
import { root } from './helpers/cli.js';

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
}
interface Compose {
  services: Record<string, ComposeService>;
}

let compose: Compose;

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

const env = (service: string): Record<string, string> => {
  const s = compose.services[service];
  if (!s) throw new Error(`docker-compose.yml has no service "${service}"`);
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v ?? '']));
};

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
  } catch (err) {
    composeError = err as Error;
  }
});

describe('docker-compose.yml', () => {
  // Every test fails (none is skipped) with the reason, e.g. how to install docker-compose.
  beforeEach(() => {
    if (composeError) throw composeError;
  });

  it('is valid for docker-compose and has InfluxDB 2.7, citypipe and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['citypipe', 'grafana', 'influxdb']);
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
