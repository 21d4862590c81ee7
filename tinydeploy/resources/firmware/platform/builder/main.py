"""SCons builder of tinydeploy's offline PlatformIO platform: bare-metal Cortex-M firmware.

Two kinds of board (`build.port` in the board JSON):
- "qemu_mps" (default): Arm's MPS2/MPS3 FPGA boards, which exist only as QEMU machines here;
- "stm32": STM32 chips, real boards or QEMU's models of them (netduinoplus2,
  stm32vldiscovery), through src/port_stm32.c; `build.stm32` says the family, the report
  USART and its pins, and the PLL settings, checked here against `build.f_cpu`.

Compiler and linker set-up per board (CPU, FPU/DSP/MVE flags, linker script) and two targets
that run a QEMU board's program under qemu-system-arm with `-icount shift=0`:
`pio run -e qemu_an386 -t upload` (or `-t qemu`); the guest's semihosting exit code becomes
pio's exit status. Real boards are flashed by `tinydeploy flash` (OpenOCD, stlink-tools or
pyOCD), not by this builder. Optimisation level, model sources and the kernel library are
added by the project's extra script (firmware/tools/td_sources.py), shared with the
real-board envs.
"""

import os
import sys

from SCons.Script import COMMAND_LINE_TARGETS, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()

# Toolchain: a PlatformIO package when one is configured (platform_packages =
# toolchain-gccarmnoneeabi@symlink://...), otherwise the system PATH (Debian /usr/bin).
tc_dir = platform.get_package_dir("toolchain-gccarmnoneeabi")
if tc_dir and os.path.isdir(os.path.join(tc_dir, "bin")):
    env.PrependENVPath("PATH", os.path.join(tc_dir, "bin"))

env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-as", CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++", GDB="gdb-multiarch", OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib", SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.ARM\.exidx|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
    PROGNAME="firmware",
)

cpu = board.get("build.cpu")
fpu = board.get("build.fpu", "soft")
qemu_machine = board.get("build.qemu_machine", "")
machine_flags = ["-mthumb", f"-mcpu={cpu}"]
if fpu == "auto":  # e.g. cortex-m55: FPU + MVE implied by -mcpu
    machine_flags += ["-mfloat-abi=hard"]
elif fpu != "soft":
    machine_flags += [f"-mfpu={fpu}", "-mfloat-abi=hard"]


# Frequency of each STM32 family's internal HSI oscillator: the PLL input, and the core
# clock when a board has no PLL settings.
HSI_HZ = {"f1": 8_000_000, "f4": 16_000_000, "f7": 16_000_000, "h7": 64_000_000}


def _fail(msg):
    sys.stderr.write(f"Error: board {board.id}: {msg}\n")
    env.Exit(1)


def _pin(name):
    """'PA9' -> (0, 9)"""
    if len(name) < 3 or name[0] != "P" or not name[1].isalpha() or not name[2:].isdigit():
        _fail(f"pin {name!r} is not like PA9")
    return ord(name[1].upper()) - ord("A"), int(name[2:])


def stm32_defines():
    """TD_STM32_* defines from the board's build.stm32 block (see src/port_stm32.h)."""
    cfg = board.get("build.stm32", {})
    family = cfg.get("family", "")
    if family not in HSI_HZ:
        _fail(f"build.stm32.family {family!r} is not one of {', '.join(HSI_HZ)}")
    f_cpu = int(str(board.get("build.f_cpu")).rstrip("L"))
    pll = cfg.get("pll")
    if pll is None:
        got = HSI_HZ[family]
    elif family == "f1":
        got = HSI_HZ[family] // 2 * pll["mul"]
    else:
        got = HSI_HZ[family] // pll["m"] * pll["n"] // pll["p"]
    if got != f_cpu:
        _fail(f"the PLL settings give {got} Hz but build.f_cpu is {f_cpu}")
    tx, rx = _pin(cfg["tx"]), _pin(cfg["rx"])
    defines = [f"TD_STM32_{family.upper()}", ("TD_STM32_USART", cfg["usart"]),
               ("TD_STM32_TX_PORT", tx[0]), ("TD_STM32_TX_PIN", tx[1]),
               ("TD_STM32_RX_PORT", rx[0]), ("TD_STM32_RX_PIN", rx[1]),
               ("TD_STM32_UART_AF", cfg.get("af", 0)),
               ("TD_STM32_APB1_DIV", cfg.get("apb1_div", 1)),
               ("TD_STM32_APB2_DIV", cfg.get("apb2_div", 1)),
               ("TD_STM32_FLASH_LATENCY", cfg.get("flash_latency", 0)),
               ("TD_STM32_OVERDRIVE", int(bool(cfg.get("overdrive", False))))]
    for key, value in (pll or {}).items():
        defines.append((f"TD_STM32_PLL_{key.upper()}", value))
    return defines


port = board.get("build.port", "qemu_mps")
defines = [("TD_CLOCK_HZ", board.get("build.f_cpu")),
           ("TD_UART_BASE", board.get("build.uart_base"))]
if cpu == "cortex-m7":
    defines.append("TD_CPU_CORTEX_M7")
if port == "stm32":
    defines += ["TD_TARGET_STM32", *stm32_defines()]
elif port == "qemu_mps":
    defines += ["TD_TARGET_QEMU", ("TD_QEMU_MACHINE", f'\\"{qemu_machine}\\"')]
else:
    _fail(f"build.port {port!r} is not qemu_mps or stm32")

env.Append(
    ASFLAGS=machine_flags,
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=[*machine_flags, "-g", "-ffunction-sections", "-fdata-sections", "-Wall",
             "-ffreestanding", "-fno-tree-loop-distribute-patterns",
             # call graph + frame sizes per object (.ci beside the .o): the stack bound
             # tinydeploy/firmware/stackbound.py reports next to the measured high water
             "-fcallgraph-info=su"],
    CPPDEFINES=defines,
    LINKFLAGS=[*machine_flags, "-Wl,--gc-sections", "-nostartfiles", "--specs=nano.specs",
               "-Wl,-Map,${BUILD_DIR}/firmware.map"],
    LIBS=["c", "gcc"],
    LIBPATH=[os.path.join(platform.get_dir(), "ldscripts")],
    BUILDERS=dict(ElfToBin=Builder(
        action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
        suffix=".bin")),
)
if not board.get("build.ldscript", ""):
    _fail("no build.ldscript")
env.Replace(LDSCRIPT_PATH=os.path.join(platform.get_dir(), "ldscripts",
                                       board.get("build.ldscript")))

qemu_flags = env.GetProjectOption("board_qemu_flags", "")
if qemu_machine:
    qemu_cmd = (f"qemu-system-arm -M {qemu_machine} -display none -monitor none -serial stdio "
                f"-icount shift=0 -semihosting-config enable=on,target=native {qemu_flags} "
                "-kernel $SOURCE")
else:  # a real board: flashing needs a debug probe and an uploader
    qemu_cmd = (f"echo 'Error: flash board {board.id} with `tinydeploy flash --board ...` "
                "(OpenOCD, stlink-tools or pyOCD); this builder only runs QEMU machines' >&2; "
                "exit 1")

if "nobuild" in COMMAND_LINE_TARGETS:
    target_elf = os.path.join("$BUILD_DIR", "${PROGNAME}.elf")
    target_bin = os.path.join("$BUILD_DIR", "${PROGNAME}.bin")
else:
    target_elf = env.BuildProgram()
    target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)

target_buildprog = env.AddPlatformTarget("buildprog", target_bin, None, "Build")
env.AddPlatformTarget(
    "size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"),
    "Program Size", "Calculate program size")
# 'upload' = run in QEMU: the guest's exit status becomes pio's
env.AddPlatformTarget("upload", target_elf,
                      env.VerboseAction(qemu_cmd, "Running $SOURCE in QEMU"), "Upload")
env.AddCustomTarget(name="qemu", dependencies=target_elf,
                    actions=env.VerboseAction(qemu_cmd, "Running $SOURCE in QEMU"),
                    title="Run in QEMU", description="Run firmware under qemu-system-arm")

Default([target_buildprog])
