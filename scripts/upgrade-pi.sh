#!/usr/bin/env bash
# Upgrades an installed center to the release in this copy of the repository, keeping all data:
#
#   sudo scripts/upgrade-pi.sh [--wheelhouse DIR] [--screen kiosk|tv|none] [--root DIR]
#
# 1. backs up the database (online, `queue-server backup --label pre-upgrade`, with the release
#    still installed); no backup, no upgrade;
# 2. stops the hub and the bridge;
# 3. installs the new release (scripts/install-pi.sh with the same options);
# 4. migrates the database to the new schema (`queue-server migrate`);
# 5. starts the services again and waits for the hub's /healthz.
# If step 3 or 4 fails the hub stays stopped and the script prints how to restore the backup
# (docs/install.md, "Upgrading"). --root DIR works on a scratch root as install-pi.sh does (tests).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT=/
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?}"; shift 2 ;;
    --wheelhouse|--screen|--python) shift 2 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "upgrade-pi: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "upgrade-pi: run as root: sudo $0 ${args[*]}" >&2; exit 1; }
ROOT="$(cd "$ROOT" && pwd)"
R="${ROOT%/}"
LIVE=1
[ "$ROOT" = / ] || LIVE=0
QS=$R/opt/quay-so/.venv/bin/queue-server
CONFIG=$R/etc/quay-so/center.toml
DATA=$R/var/lib/quay-so
[ -x "$QS" ] || { echo "upgrade-pi: no installed release at $R/opt/quay-so; run install-pi.sh" >&2; exit 1; }

as_hub() {  # run as the hub's user on a live system (files it writes stay its own)
  if [ "$LIVE" = 1 ]; then runuser -u quayso -- "$@"; else "$@"; fi
}

if [ -f "$DATA/queue.sqlite3" ]; then
  echo "upgrade-pi: 1/5 backing up the database"
  if [ -f "$CONFIG" ]; then
    as_hub "$QS" backup --config "$CONFIG" --data "$DATA" --label pre-upgrade
  else
    as_hub "$QS" backup --data "$DATA" --label pre-upgrade
  fi
else
  echo "upgrade-pi: 1/5 no database yet: nothing to back up"
fi

echo "upgrade-pi: 2/5 stopping the services"
if [ "$LIVE" = 1 ]; then
  systemctl stop firmware-bridge.service queue-server.service || true
fi

fail() {
  echo "upgrade-pi: $1 failed; the hub is stopped. The database was backed up first:" >&2
  echo "upgrade-pi:   ls $DATA/backups/*pre-upgrade*   (or your [backup] dir)" >&2
  echo "upgrade-pi:   sudo -u quayso $QS restore <that file> --data $DATA" >&2
  exit 1
}

echo "upgrade-pi: 3/5 installing the new release"
"$HERE/install-pi.sh" --no-start "${args[@]}" || fail "installing"

echo "upgrade-pi: 4/5 migrating the database"
if [ -f "$DATA/queue.sqlite3" ]; then
  as_hub "$QS" migrate --data "$DATA" || fail "migrating"
fi

echo "upgrade-pi: 5/5 starting the services"
if [ "$LIVE" = 1 ]; then
  systemctl start queue-server.service
  systemctl is-enabled --quiet firmware-bridge.service && systemctl start firmware-bridge.service
  for i in $(seq 60); do
    curl -fs -o /dev/null http://127.0.0.1:8080/healthz && break
    sleep 1
  done
  as_hub "$QS" doctor --config "$CONFIG" --data "$DATA" || true
fi
echo "upgrade-pi: done"
