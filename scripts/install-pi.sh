#!/usr/bin/env bash
# Installs (or updates, or removes) Quầy số on a Raspberry Pi OS Bookworm 64-bit (or Debian 12)
# machine, from this copy of the repository. docs/install.md is the technician's guide.
#
#   sudo scripts/install-pi.sh [--wheelhouse DIR] [--screen kiosk|tv|none]
#   sudo scripts/install-pi.sh --uninstall          # removes the software; keeps data and config
#
#   --wheelhouse DIR  install offline: the Python packages come only from DIR, made beforehand on a
#                     machine with internet by `python3 -m pip wheel --wheel-dir DIR .` in the
#                     repository (`make wheelhouse`); without it the wheelhouse is made now (online)
#   --screen WHICH    this Pi also drives a screen: `kiosk` (touchscreen) or `tv` (hall display),
#                     Chromium in kiosk mode under cage on tty1; `none` (default) leaves the
#                     screen units as they are (`systemctl disable kiosk-browser` turns one off)
#   --root DIR        write everything under DIR instead of / (tests, image building): no apt-get,
#                     no live systemctl or udevadm; users and groups go into DIR/etc/passwd and
#                     DIR/etc/group (useradd --prefix); units are enabled with `systemctl --root`
#   --python PATH     the Python (3.11 or newer) the virtual environment is made from; python3
#   --no-start        do not (re)start the services at the end (scripts/upgrade-pi.sh migrates first)
#
# Idempotent: a second run with the same release and options changes nothing (files are
# compared before they are written; the release is installed only when its wheel's RECORD — the
# hashes of every file in it — differs from the installed one). Output: one line per change.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=/
WHEELHOUSE=""
SCREEN=none
UNINSTALL=0
PYTHON=python3
START=1

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "install-pi: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --wheelhouse) WHEELHOUSE="${2:?--wheelhouse needs a folder}"; shift 2 ;;
    --screen) SCREEN="${2:?--screen needs kiosk, tv or none}"; shift 2 ;;
    --python) PYTHON="${2:?--python needs a path}"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install-pi: unknown option $1" >&2; usage 2 ;;
  esac
done
case "$SCREEN" in kiosk|tv|none) ;; *) die "--screen must be kiosk, tv or none (not $SCREEN)" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 $*"
ROOT="$(cd "$ROOT" 2>/dev/null && pwd)" || die "--root: no such folder"
LIVE=1  # act on the running system (apt-get, systemctl, udevadm)
[ "$ROOT" = / ] || LIVE=0
R="${ROOT%/}"  # prefix for paths: "" for /

OPT=/opt/quay-so
VENV=$OPT/.venv
ETC=/etc/quay-so
DATA=/var/lib/quay-so
UNITDIR=/etc/systemd/system
USER_HUB=quayso
USER_SCREEN=quayso-screen
UNITS=(queue-server.service firmware-bridge.service kiosk-browser.service tv-browser.service
       queue-server-backup.service queue-server-backup.timer)
# Debian packages: the hub (venv, voice, fonts, sqlite3 for a technician, curl for the screens'
# wait), and for a screen Chromium under cage.
BASE_PACKAGES=(python3 python3-venv espeak-ng alsa-utils fonts-dejavu-core sqlite3 curl ca-certificates)
SCREEN_PACKAGES=(chromium cage)

CHANGED=0
say() { echo "install-pi: $*"; CHANGED=1; }

# put SRC DEST MODE OWNER:GROUP — installs a file only when content, mode or owner differ
put() {
  local src=$1 dest=$R$2 mode=$3 owner=$4
  if [ -f "$dest" ] && cmp -s "$src" "$dest" \
     && [ "$(stat -c %a:%u:%g "$dest")" = "$mode:$(uid_of "${owner%%:*}"):$(gid_of "${owner##*:}")" ]; then
    return 0
  fi
  install -D -m "$mode" -o "$(uid_of "${owner%%:*}")" -g "$(gid_of "${owner##*:}")" "$src" "$dest"
  say "installed $2"
}

# put_once SRC DEST MODE OWNER:GROUP — a file the technician edits: copied only if absent
put_once() {
  [ -e "$R$2" ] && return 0
  install -D -m "$3" -o "$(uid_of "${4%%:*}")" -g "$(gid_of "${4##*:}")" "$1" "$R$2"
  say "installed $2 (edit it: it is never overwritten)"
}

# folder PATH MODE OWNER:GROUP
folder() {
  local dest=$R$1 uid gid
  uid=$(uid_of "${3%%:*}"); gid=$(gid_of "${3##*:}")
  if [ -d "$dest" ] && [ "$(stat -c %a:%u:%g "$dest")" = "$2:$uid:$gid" ]; then return 0; fi
  install -d -m "$2" -o "$uid" -g "$gid" "$dest"
  say "folder $1 ($2 ${3})"
}

# Users and groups are looked up in the target's own files (the prefix's under --root).
uid_of() { awk -F: -v n="$1" '$1 == n { print $3; f = 1 } END { exit !f }' "$R/etc/passwd" || die "no user $1"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3; f = 1 } END { exit !f }' "$R/etc/group" || die "no group $1"; }
has_user() { grep -q "^$1:" "$R/etc/passwd"; }
has_group() { grep -q "^$1:" "$R/etc/group"; }
in_group() { awk -F: -v g="$2" -v u="$1" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1 } END { exit !f }' "$R/etc/group"; }
prefix_opt() { [ "$LIVE" = 1 ] || echo "--prefix=$ROOT"; }

sctl() {  # systemctl on the live system, or on the files under --root
  if [ "$LIVE" = 1 ]; then systemctl "$@"; else systemctl --root="$ROOT" "$@"; fi
}

enable_unit() {
  if ! sctl --quiet is-enabled "$1" >/dev/null 2>&1; then
    sctl --quiet enable "$1"
    say "enabled $1"
  fi
}

disable_unit() {
  if sctl --quiet is-enabled "$1" >/dev/null 2>&1; then
    [ "$LIVE" = 1 ] && systemctl stop "$1" || true
    sctl --quiet disable "$1"
    say "disabled $1"
  fi
}

# ------------------------------------------------------------------------------------ uninstall
if [ "$UNINSTALL" = 1 ]; then
  [ -d "$R$UNITDIR" ] && for u in "${UNITS[@]}"; do
    [ -e "$R$UNITDIR/$u" ] && disable_unit "$u"
  done
  for f in "${UNITS[@]/#/$UNITDIR/}" /etc/systemd/journald.conf.d/quay-so.conf \
           /etc/udev/rules.d/60-quay-so.rules /etc/pam.d/quay-so-screen; do
    if [ -e "$R$f" ]; then rm -f "$R$f"; say "removed $f"; fi
  done
  if [ -d "$R$OPT" ]; then rm -rf "$R$OPT"; say "removed $OPT"; fi
  if [ "$LIVE" = 1 ] && [ "$CHANGED" = 1 ]; then
    systemctl daemon-reload
    udevadm control --reload || true
  fi
  echo "install-pi: the software is removed; kept: $ETC (config), $DATA (data, backups)," \
       "users $USER_HUB and $USER_SCREEN"
  exit 0
fi

# ------------------------------------------------------------------------------ Debian packages
packages=("${BASE_PACKAGES[@]}")
[ "$SCREEN" != none ] && packages+=("${SCREEN_PACKAGES[@]}")
if [ "$LIVE" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      || die "could not install ${missing[*]} (offline? copy their .deb files and 'apt-get install ./*.deb'; docs/install.md)"
  fi
fi

# -------------------------------------------------------------------------- users and groups
[ -f "$R/etc/passwd" ] && [ -f "$R/etc/group" ] || die "$ROOT has no etc/passwd and etc/group"
for g in lp dialout gpio "$USER_HUB" "$USER_SCREEN"; do
  # lp and dialout are Debian's; gpio is Raspberry Pi OS's (made here on plain Debian)
  if ! has_group "$g"; then groupadd $(prefix_opt) --system "$g"; say "group $g"; fi
done
if ! has_user "$USER_HUB"; then
  useradd $(prefix_opt) --system --gid "$USER_HUB" --home-dir "$DATA" --no-create-home \
    --shell /usr/sbin/nologin --comment "Quay so hub" "$USER_HUB"
  say "user $USER_HUB"
fi
for g in lp dialout gpio; do  # the hub's only supplementary groups: printers, serial, GPIO
  if ! in_group "$USER_HUB" "$g"; then usermod $(prefix_opt) --append --groups "$g" "$USER_HUB"; say "$USER_HUB joins $g"; fi
done
if ! has_user "$USER_SCREEN"; then  # the browsers' user: no groups, no access to the data
  useradd $(prefix_opt) --system --gid "$USER_SCREEN" --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "Quay so screen" "$USER_SCREEN"
  say "user $USER_SCREEN"
fi

# ------------------------------------------------------------------------------------- folders
for system_folder in /opt /etc /var /var/lib; do  # the image's own: made only when missing
  [ -d "$R$system_folder" ] || folder $system_folder 755 root:root
done
folder $OPT 755 root:root
folder $ETC 750 root:$USER_HUB
folder $DATA 750 $USER_HUB:$USER_HUB
folder $DATA/backups 750 $USER_HUB:$USER_HUB

# ------------------------------------------------------------------------------------- config
put_once "$REPO/config/example.toml" $ETC/center.toml 640 root:$USER_HUB
put "$REPO/config/example.toml" $ETC/center.toml.example 644 root:root
put_once "$REPO/scripts/pi/screens.env" $ETC/screens.env 600 root:root

# ----------------------------------------------------------------------- the Python release
tmp_wheels=""
cleanup() { [ -n "$tmp_wheels" ] && rm -rf "$tmp_wheels"; return 0; }
trap cleanup EXIT
if [ -z "$WHEELHOUSE" ]; then
  tmp_wheels=$(mktemp -d)
  echo "install-pi: making a wheelhouse (needs internet; offline: --wheelhouse DIR)"
  "$PYTHON" -m pip wheel --quiet --wheel-dir "$tmp_wheels" "$REPO" || die "pip wheel failed"
  WHEELHOUSE=$tmp_wheels
fi
WHEELHOUSE="$(cd "$WHEELHOUSE" && pwd)" || die "--wheelhouse: no such folder"
shopt -s nullglob
wheels=("$WHEELHOUSE"/quay_so-*.whl)
shopt -u nullglob
[ ${#wheels[@]} -eq 1 ] || die "$WHEELHOUSE must hold exactly one quay_so-*.whl (found ${#wheels[@]}); make it again"
wheel=${wheels[0]}
# The release's identity: its name and the RECORD inside it (every file's sha256), which does not
# change when the same source is built again (zip timestamps do).
release="$(basename "$wheel") $("$PYTHON" -c '
import hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(hashlib.sha256(z.read(next(n for n in z.namelist() if n.endswith(".dist-info/RECORD")))).hexdigest())
' "$wheel")"
if [ ! -x "$R$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$R$VENV"
  say "virtual environment $VENV"
fi
if [ "$(cat "$R$OPT/release" 2>/dev/null)" != "$release" ]; then
  # only the wheelhouse: neither this machine's pip config nor its PIP_* variables may add a source
  pip=(env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null
       "$R$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$WHEELHOUSE")
  "${pip[@]}" "$wheel" || die "pip could not install from $WHEELHOUSE (is it complete? docs/install.md)"
  "${pip[@]}" --no-deps --force-reinstall "$wheel"
  echo "$release" > "$R$OPT/release"
  say "release ${release%% *}"
fi
for doc in README.md docs/install.md docs/configuration.md; do
  put "$REPO/$doc" "$OPT/$doc" 644 root:root
done

# ---------------------------------------------------------------- units, udev, journald, PAM
for u in "${UNITS[@]}"; do
  put "$REPO/systemd/$u" "$UNITDIR/$u" 644 root:root
done
put "$REPO/systemd/journald.conf.d/quay-so.conf" /etc/systemd/journald.conf.d/quay-so.conf 644 root:root
put "$REPO/udev/60-quay-so.rules" /etc/udev/rules.d/60-quay-so.rules 644 root:root
put "$REPO/scripts/pi/quay-so-screen.pam" /etc/pam.d/quay-so-screen 644 root:root

if [ "$LIVE" = 1 ] && [ "$CHANGED" = 1 ]; then
  systemctl daemon-reload
  udevadm control --reload && udevadm trigger --subsystem-match=usb --subsystem-match=usbmisc --subsystem-match=tty || true
  systemctl try-restart systemd-journald.service || true
fi
enable_unit queue-server.service
enable_unit queue-server-backup.timer
# The bridge runs when the center has RS485 devices ([bridge] in the config).
if grep -Eq '^[[:space:]]*\[bridge\]' "$R$ETC/center.toml"; then
  enable_unit firmware-bridge.service
fi
case "$SCREEN" in
  kiosk) disable_unit tv-browser.service; enable_unit kiosk-browser.service ;;
  tv) disable_unit kiosk-browser.service; enable_unit tv-browser.service ;;
esac
if [ "$LIVE" = 1 ] && [ "$CHANGED" = 1 ] && [ "$START" = 1 ]; then
  systemctl restart queue-server.service queue-server-backup.timer
  sctl --quiet is-enabled firmware-bridge.service 2>/dev/null && systemctl restart firmware-bridge.service
  [ "$SCREEN" != none ] && systemctl restart "$SCREEN-browser.service"
fi
if [ "$CHANGED" = 0 ]; then
  echo "install-pi: nothing to change"
else
  echo "install-pi: done; check it with: sudo -u $USER_HUB $VENV/bin/queue-server doctor --config $ETC/center.toml --data $DATA"
fi
