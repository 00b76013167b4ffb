#!/usr/bin/env bash
# The README's test command (`npm test`), and what CI runs: on a fresh Debian machine with Node 20+
# it installs the real services the tests start (InfluxDB, Mosquitto, pymodbus, mbpoll, socat,
# Chromium, a CJK font, poppler-utils to read the printed PDF back, Prometheus for promtool),
# installs the npm packages, builds, type-checks and runs the whole suite. Re-runs skip the installs
# that are already done. Extra arguments go to vitest (e.g. a test path).
set -uo pipefail
cd "$(dirname "$0")/.."

APT_PKGS="influxdb influxdb-client mosquitto mosquitto-clients python3-pymodbus python3-serial-asyncio mbpoll socat chromium fonts-wqy-zenhei poppler-utils prometheus"
need_apt=0
for bin in influxd mosquitto mosquitto_pub mbpoll socat chromium pdftotext pdfinfo promtool; do   # promtool: the prometheus package (test/chaos/promtool.test.ts)
  command -v "$bin" >/dev/null 2>&1 || need_apt=1
done
/usr/bin/python3 -c 'import pymodbus, serial_asyncio' >/dev/null 2>&1 || need_apt=1
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need_apt=1   # CJK font: the zh-CN report and dashboard screenshots
if [ "$need_apt" = 1 ]; then
  echo "== installing test services from Debian: $APT_PKGS"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || exit 1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $APT_PKGS || exit 1
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund || exit 1
fi

echo "== build and type-check"
npx tsc -p tsconfig.build.json || exit 1
typecheck=0
npx tsc -p tsconfig.json --noEmit || typecheck=1
echo "== lint (oxlint: correctness rules, floating and misused promises; .oxlintrc.json)"
lint=0
npx oxlint --type-aware --deny-warnings || lint=1

echo "== format (prettier --check; npm run format fixes it)"
format=0
npx prettier --check --log-level warn "**/*.{ts,js,mjs}" || format=1

echo "== tests"
mkdir -p test-results
rm -f test-results/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?

# CI reads a plain closing line: "N passed, N failed, N skipped"
node -e '
const fs = require("fs");
let r = {};
try { r = JSON.parse(fs.readFileSync("test-results/vitest.json", "utf8")); } catch {}
const passed = r.numPassedTests ?? 0, failed = (r.numFailedTests ?? 0), skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
'
if [ "$typecheck" != 0 ]; then echo "type check failed"; [ "$status" = 0 ] && status=1; fi
if [ "$lint" != 0 ]; then echo "lint failed"; [ "$status" = 0 ] && status=1; fi
if [ "$format" != 0 ]; then echo "format check failed"; [ "$status" = 0 ] && status=1; fi
exit $status
