#!/usr/bin/env bash
# Issue 14's end-to-end cases (test/join-history.test.ts: a join created over existing history,
# one process, three consumer processes, a throttled consumer, a consumer killed mid-backlog)
# run JOIN_HISTORY_ROUNDS times each (default 3), under the shared integration-test lock.
# Usage: tools/join-history-stress.sh [extra jest args]; SLUICE_MAIN_JS runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SLUICE_MAIN_JS:-}" ] || npm run build
export JOIN_HISTORY_ROUNDS="${JOIN_HISTORY_ROUNDS:-3}"
exec flock "${SLUICE_IT_LOCK:-/tmp/sluice-it.lock}" \
  npx jest --selectProjects integration --runInBand test/join-history.test.ts "$@"
