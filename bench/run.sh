#!/usr/bin/env bash
# One command for the benchmarks: installs PM2 and autocannon (npm, into bench/.peers, never globally), wrk and
# nginx (Debian packages, when missing and run as root), publishes nk ahead-of-time compiled into bench/.nk from the
# working tree, runs every scenario and writes bench/results/latest.md, latest.json and ratios.svg. Arguments go to
# bench.js (--runs N, --scenarios a,b, --only nodekeeper); a run of some scenarios writes results/<scenarios>.md and
# .json instead (e.g. keepalive_downtime.md) and leaves latest.* alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if [ ! -x .peers/node_modules/.bin/pm2 ] || [ ! -x .peers/node_modules/.bin/autocannon ]; then
  mkdir -p .peers
  [ -f .peers/package.json ] || echo '{"name":"nodekeeper-bench-peers","private":true}' > .peers/package.json
  (cd .peers && npm install --no-audit --no-fund pm2@latest autocannon@latest)
fi
# keepalive_downtime's load and proxy; without them a full run leaves that scenario out.
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}"
  else
    echo "run.sh: no ${need[*]}: keepalive_downtime needs them (apt-get install -y wrk nginx-light)" >&2
  fi
fi
dotnet publish ../src/NodeKeeper.Client -c Release -r linux-x64 -o .nk -nologo -v quiet
exec node bench.js "$@"
