#!/usr/bin/env bash
# citypipe set-up: the Debian packages citypipe needs (when run as root on Debian/Ubuntu), then the
# npm dependencies (which also builds dist/).
#
#   npm run setup                      influxdb (local InfluxDB for the demo and the tests),
#                                      mosquitto-clients (mosquitto_pub / mosquitto_sub)
#   npm run setup -- --with-test-tools also victoria-metrics (a second server that speaks the
#                                      InfluxDB v2 write API, for the v2 write-path tests),
#                                      mosquitto (the reference broker for benchmarks) and
#                                      docker-compose (validates docker-compose.yml; no engine needed)
#
# Without root: install the packages yourself (`sudo apt-get install influxdb mosquitto-clients`),
# then run `npm ci`. The script never uses sudo on its own.
set -euo pipefail

packages=(influxdb influxdb-client mosquitto-clients)
if [[ "${1:-}" == "--with-test-tools" ]]; then
  packages+=(victoria-metrics mosquitto docker-compose)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: install them as root:  sudo apt-get install ${missing[*]}" >&2
    echo "setup: (citypipe itself never needs root; only this install does)" >&2
    echo "setup: continuing with the npm dependencies" >&2
  fi
else
  echo "setup: Debian packages present: ${packages[*]}"
fi

if [[ -f package-lock.json ]]; then npm ci; else npm install; fi
echo "setup: done. Next: npx citypipe demo"
