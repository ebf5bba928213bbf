#!/usr/bin/env bash
# Installs the Debian packages the system and its tests need, only when one is missing.
# Runs unattended (CI has no standard input); uses sudo when not root.
set -euo pipefail
# chromium: browser tests; espeak-ng + sox: the voice; tesseract: OCR of printed tickets;
# socat: pseudo-terminal pairs for the RS485 device tests; postgresql: the province backend's
# database (tests start a throwaway cluster with its initdb/pg_ctl, never the system service);
# cage: the Pi's kiosk compositor, whose path the screen units name (systemd-analyze verify)
packages=(chromium espeak-ng fonts-dejavu-core sox tesseract-ocr tesseract-ocr-vie socat postgresql cage)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 -m venv needs ensurepip, which Debian ships separately
python3 -c "import ensurepip" 2>/dev/null || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
