#!/usr/bin/env bash
# The unit tests (src/) under Node 22 LTS, from npm's `node` package, in a copy of this checkout: the
# code is meant for Node 20, 22 and 24 alike (README "Requirements"). better-sqlite3 is built for
# Node 22 from source against the headers that package ships, so nothing is downloaded but npm
# packages. Takes about 5 minutes, most of it compiling SQLite. CI runs it after `npm test`.
#
#   npm run test:node22          (needs what `npm test` needs: influxd, victoria-metrics…)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "test-node22: installing Node 22 from the npm registry (npm's node package)"
npm install --prefix "$work/node22" --no-save --no-audit --no-fund --loglevel=error node@22 >/dev/null
export PATH="$work/node22/node_modules/.bin:$PATH"
headers=""
for candidate in "$work"/node22/node_modules/node/node_modules/node-linux-* "$work"/node22/node_modules/node/node_modules/node-darwin-*; do
  if [[ -d "$candidate/include/node" ]]; then headers=$candidate; break; fi
done
[[ -n "$headers" && -d "$headers/include/node" ]] || { echo "test-node22: the node package came without headers ($headers)" >&2; exit 1; }
echo "test-node22: $(node --version) at $(command -v node)"

# The checkout as it is, tracked and new files alike (not node_modules, dist or data).
mkdir "$work/repo"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/repo"
cd "$work/repo"
echo "test-node22: npm ci (builds better-sqlite3 for $(node --version))"
npm ci --no-audit --no-fund --loglevel=error --nodedir="$headers" >/dev/null
npx vitest run src
