#!/usr/bin/env bash
# Install the Debian packages tinydeploy needs (idempotent). As root it runs apt-get;
# otherwise it prints the exact command to run.
set -euo pipefail
# tests/setup/test_system_closure.py fails when a build input or host tool comes from a
# package outside this list's dependency closure: add what a build needs here, nowhere else.
PACKAGES=(
  python3-venv
  gcc                      # host builds of the kernels (bit-exact checks, sanitizers)
  libc6-dev                # host libc headers: gcc only Recommends it (and we skip those)
  gcc-arm-none-eabi        # the cross compiler (C only: no libstdc++ needed)
  libnewlib-arm-none-eabi  # newlib nano, linked by every firmware
  qemu-system-arm          # the Cortex-M machines
  chromium                 # headless report screenshots (tests)
  strace                   # the set-up guard traces real builds
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
