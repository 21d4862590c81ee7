"""tinydeploy's local PlatformIO development platform: bare-metal Cortex-M, QEMU and STM32.

PlatformIO derives the class name from platform.json's "name" (td-qemu-cortexm).
"""

from platformio.public import PlatformBase


class TdqemucortexmPlatform(PlatformBase):
    """No packages to install: the toolchain is the system arm-none-eabi-gcc."""
