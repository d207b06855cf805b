#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs the Debian tools
# the tests use, the project with its test extras in .venv, then runs pytest.
# LANES_TEST_REQUIRE=1 (set by .ci/run) turns skips of required tiers into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PKGS="prometheus prometheus-alertmanager prometheus-node-exporter iperf3 iproute2 libxml2-utils systemd chromium curl openssl podman runc mmdebstrap"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
