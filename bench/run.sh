#!/usr/bin/env bash
# One command for the benchmarks: installs PM2 and autocannon (npm, into bench/.peers, never globally), publishes nk
# ahead-of-time compiled into bench/.nk, runs every scenario and writes bench/results/latest.md,
# latest.json and ratios.svg. Arguments go to bench.js (--runs N, --scenarios a,b, --only nodekeeper).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -x .peers/node_modules/.bin/pm2 ] || [ ! -x .peers/node_modules/.bin/autocannon ]; then
  mkdir -p .peers
  [ -f .peers/package.json ] || echo '{"name":"nodekeeper-bench-peers","private":true}' > .peers/package.json
  (cd .peers && npm install --no-audit --no-fund pm2@latest autocannon@latest)
fi
dotnet publish ../src/NodeKeeper.Client -c Release -r linux-x64 -o .nk -nologo -v quiet
exec node bench.js "$@"
