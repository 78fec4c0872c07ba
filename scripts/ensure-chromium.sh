#!/usr/bin/env bash
# Makes sure /usr/bin/chromium exists for the browser tests (test/e2e), installing Debian's package
# when it is missing. playwright-core drives this system browser; no browser is ever downloaded.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing; run as root: apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# apt may be locked by another job for a while: retry instead of failing at once.
for attempt in 1 2 3 4 5 6; do
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; then
    break
  fi
  echo "ensure-chromium: apt failed (attempt $attempt), retrying in 20 s" >&2
  sleep 20
done
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: could not install chromium" >&2
  exit 1
fi
/usr/bin/chromium --version 2>/dev/null || true
