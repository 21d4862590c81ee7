#!/bin/sh
# Offline set-up of tinydeploy's PlatformIO project (idempotent).
#  1. checks the Debian cross toolchain and QEMU are on PATH;
#  2. creates the tool-scons shim in the project's PlatformIO core dir (firmware/.pio-core,
#     or $PLATFORMIO_CORE_DIR) from the pip-installed scons.
# Usage: [PYTHON=.venv/bin/python] firmware/tools/setup_offline.sh
# Needs: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
#        pip install platformio==6.2.0 scons==4.11.1
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
FW=$(dirname "$HERE")
PY=${PYTHON:-$(command -v python3)}
CORE=${PLATFORMIO_CORE_DIR:-$FW/.pio-core}
missing=""
for tool in arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm qemu-system-arm; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "missing on PATH:$missing" >&2
    echo "install: sudo apt-get update && sudo apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" >&2
    exit 1
fi
"$PY" "$HERE/make_scons_shim.py" --core-dir "$CORE"
