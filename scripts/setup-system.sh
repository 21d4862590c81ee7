#!/usr/bin/env bash
# Install the Debian packages tinydeploy needs (idempotent). As root it runs apt-get;
# otherwise it prints the exact command to run.
set -euo pipefail
PACKAGES=(
  python3-venv
  gcc
  gcc-arm-none-eabi
  libnewlib-arm-none-eabi
  qemu-system-arm
  chromium
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: missing system packages; run as root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
