#!/usr/bin/env bash
# citypipe set-up: whatever is missing of what citypipe needs, and nothing else. `npm run demo` and
# `npm test` run it first, so a fresh clone needs no other command; run again, it does nothing and
# says nothing (with --quiet).
#
#   1. Debian packages: influxdb (local InfluxDB 1.x for the demo and the tests), influxdb-client
#      (the `influx` shell), mosquitto-clients (mosquitto_pub / mosquitto_sub); with --with-test-tools
#      also victoria-metrics (a second server speaking the InfluxDB v2 write API), mosquitto (the
#      reference broker, MQTT 5 shared subscriptions), docker-compose (validates docker-compose.yml;
#      no engine needed), postgresql (the tests run a private server for the workers' shared state)
#      and chromium (a real headless browser for the status page's accessibility test).
#      Installed when run as root on a Debian-like system; otherwise it says what to install.
#   2. npm dependencies: `npm ci` when node_modules is missing or older than package-lock.json.
#   3. The build (dist/): when a source file is newer than the last build.
#
#   bash scripts/setup.sh [--with-test-tools] [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."

quiet=0
packages=(influxdb influxdb-client mosquitto-clients)
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) packages+=(victoria-metrics mosquitto docker-compose postgresql chromium) ;;
    --quiet) quiet=1 ;;
    *) echo "setup: unknown option $arg (use --with-test-tools, --quiet)" >&2; exit 2 ;;
  esac
done
say() { echo "setup: $*"; }

# 1. Debian packages.
missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
else
  # Not Debian: look for the programs instead.
  for p in "${packages[@]}"; do
    case "$p" in
      influxdb) command -v influxd >/dev/null || missing+=("$p") ;;
      influxdb-client) command -v influx >/dev/null || missing+=("$p") ;;
      mosquitto-clients) command -v mosquitto_pub >/dev/null || missing+=("$p") ;;
      victoria-metrics) command -v victoria-metrics >/dev/null || missing+=("$p") ;;
      mosquitto) [[ -x /usr/sbin/mosquitto ]] || command -v mosquitto >/dev/null || missing+=("$p") ;;
      docker-compose) command -v docker-compose >/dev/null || missing+=("$p") ;;
      postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=("$p") ;;
      chromium) command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=("$p") ;;
    esac
  done
fi
if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing packages: ${missing[*]}. Install them as root: apt-get install ${missing[*]} (citypipe itself never needs root). Going on without them." >&2
  fi
elif ((!quiet)); then
  say "Debian packages present: ${packages[*]}"
fi

# 2. npm dependencies: npm ci records the lock it installed in node_modules/.package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies (npm ci)"
  # npm ci also builds dist/ (the `prepare` script).
  if ((quiet)); then npm ci --no-audit --no-fund --loglevel=error >/dev/null; else npm ci --no-audit --no-fund; fi
elif ((!quiet)); then
  say "npm dependencies up to date"
fi

# 3. The build: dist/ is older than a source file (or missing).
stamp=dist/src/cli/main.js
if [[ ! -f "$stamp" ]] || [[ -n "$(find src simulators bench tsconfig.json tsconfig.build.json package.json -newer "$stamp" -type f \( -name '*.ts' -o -name '*.json' \) -not -name '*.test.ts' -print -quit)" ]]; then
  say "building dist/"
  npm run --silent build
elif ((!quiet)); then
  say "dist/ up to date"
fi
((quiet)) || say "done. Next: npm run demo, or npm test"
