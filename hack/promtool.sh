#!/usr/bin/env bash
# Installs promtool (Prometheus's rule checker and rule unit-test runner) from
# the Debian package `prometheus` when it is missing, and prints its path.
#
#   hack/promtool.sh            # the last line printed is the path of promtool
#
# A promtool already at $PROMTOOL or on PATH is used as is. Otherwise this runs
# `apt-get update` and `apt-get install -y --no-install-recommends prometheus`
# (as root, as on the developers' machines and in CI).
#
# The package also ships the Prometheus server and an init script, and its
# postinst asks invoke-rc.d (or deb-systemd-invoke) to start it. Only promtool
# is wanted: while installing, a policy-rc.d that answers 101 ("action
# forbidden") keeps the service from starting (invoke-rc.d and
# deb-systemd-invoke both obey it), and update-rc.d disables the boot-time
# start the package enabled (sysvinit links and the systemd unit). Afterwards
# the script checks that the install started no Prometheus server, and stops
# one if it did.
set -euo pipefail

log() { echo "[promtool] $*" >&2; }

# The real file, not a link (bin/promtool itself may be on PATH).
found() {
  local p=""
  if [ -n "${PROMTOOL:-}" ] && [ -x "$PROMTOOL" ]; then
    p=$PROMTOOL
  else
    p=$(command -v promtool || true)
  fi
  [ -z "$p" ] || readlink -f -- "$p"
}

path=$(found)
if [ -n "$path" ]; then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "promtool is missing and installing the Debian package 'prometheus' needs root:"
  log "  sudo apt-get install --no-install-recommends prometheus   (or set PROMTOOL=/path/to/promtool)"
  exit 1
fi
command -v apt-get >/dev/null || { log "promtool is missing and apt-get is not available; set PROMTOOL=/path/to/promtool"; exit 1; }

# Was a Prometheus server running before? Then it is not ours to stop.
running_before=$(pidof prometheus || true)

policy=/usr/sbin/policy-rc.d
made_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# Written by queue-drainer hack/promtool.sh while installing promtool: start no service.\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  made_policy=true
  trap 'rm -f "$policy"' EXIT
else
  rc=0; "$policy" prometheus start >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 101 ] || log "note: $policy answers $rc, not 101: the install may start the prometheus service; it is stopped below"
fi

log "installing the Debian package prometheus (for /usr/bin/promtool)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends prometheus >&2

if $made_policy; then
  rm -f "$policy"
  trap - EXIT
fi

# Keep the server off at boot too: the package enabled it for sysvinit and
# systemd, and update-rc.d disables both (harmless where neither runs).
update-rc.d prometheus disable >/dev/null 2>&1 || true
# And if the install started it anyway (a policy that allowed it), stop it.
if [ -z "$running_before" ] && pidof prometheus >/dev/null; then
  log "the install started a Prometheus server; stopping it"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl stop prometheus.service >&2 || true
  else
    /etc/init.d/prometheus stop >&2 || true
  fi
fi

path=$(found)
[ -n "$path" ] || { log "the package prometheus was installed but promtool is not on PATH"; exit 1; }
log "$("$path" --version 2>&1 | head -n 1)"
echo "$path"
