#!/usr/bin/env bash
# Installs the system packages the test suite drives for real: MariaDB and a
# Galera cluster for health checks, keepalived as a VRRP peer, tshark to decode
# our packets, iproute2 for the network-namespace lab, sysbench as a real
# MySQL client load through a writer switch, python3 to read the systemd
# notify datagrams. Idempotent: does
# nothing when everything is present. Needs root (apt-get); without root it
# says what is missing and the tests that need it skip (outside CI) or fail
# (CI=true).
set -euo pipefail

# command -> Debian package
declare -A need=(
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [mariadb-install-db]=mariadb-server
  [rsync]=rsync
  [keepalived]=keepalived
  [tshark]=tshark
  [ip]=iproute2
  [ps]=procps
  [promtool]=prometheus
  [chromium]=chromium
  [sysbench]=sysbench
  [python3]=python3-minimal
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
# galera-4 is a library, not a command.
[ -e /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: not root; missing packages: ${missing[*]} (tests that need them will skip, or fail under CI=true)" >&2
  exit 0
fi
echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start services on install where they can; the tests run
# their own instances on free ports, so stop the packaged ones we just caused.
for svc in mariadb keepalived prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
echo "install-test-deps: done"
