#!/usr/bin/env bash
# Makes sure the system packages the tests use are installed, from Debian's apt when they are missing:
# - chromium (/usr/bin/chromium): the browser tests drive it with playwright-core; no browser is ever
#   downloaded;
# - libopenblas0 (libopenblas.so.0): the engine's optional OpenBLAS GEMMs (src/engine/blas.ts), so the
#   tests check them beside XNNPACK's;
# - postgresql-15 (initdb, pg_ctl): the storage tests start a throwaway server of their own
#   (src/store/testing-postgres.ts); without it those cases are skipped with the reason printed.
# Chromium is required (exit 1 without root to install it); OpenBLAS and PostgreSQL are not (a note,
# and those cases are skipped; .ci/run sets HWR_REQUIRE_POSTGRES=1, which turns that skip into a failure).
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then need+=(libopenblas0-pthread); fi
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-test-deps: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
  [ -x /usr/bin/chromium ] || exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# apt may be locked by another job for a while: retry instead of failing at once.
for attempt in 1 2 3 4 5 6; do
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; then
    break
  fi
  echo "ensure-test-deps: apt failed (attempt $attempt), retrying in 20 s" >&2
  sleep 20
done
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-test-deps: could not install chromium" >&2
  exit 1
fi
/usr/bin/chromium --version 2>/dev/null || true
