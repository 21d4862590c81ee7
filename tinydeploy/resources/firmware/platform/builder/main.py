"""SCons builder of tinydeploy's offline PlatformIO platform (Cortex-M under QEMU).

Compiler and linker set-up per board (CPU, FPU/DSP/MVE flags, linker script) and two targets
that run the program under qemu-system-arm with `-icount shift=0`:
`pio run -e qemu_an386 -t upload` (or `-t qemu`); the guest's semihosting exit code becomes
pio's exit status. Optimisation level, model sources and the kernel library are added by the
project's extra script (firmware/tools/td_sources.py), shared with the real-board envs.
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
qemu_machine = board.get("build.qemu_machine")
machine_flags = ["-mthumb", f"-mcpu={cpu}"]
if fpu == "auto":  # e.g. cortex-m55: FPU + MVE implied by -mcpu
    machine_flags += ["-mfloat-abi=hard"]
elif fpu != "soft":
    machine_flags += [f"-mfpu={fpu}", "-mfloat-abi=hard"]

env.Append(
    ASFLAGS=machine_flags,
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=[*machine_flags, "-g", "-ffunction-sections", "-fdata-sections", "-Wall",
             "-ffreestanding", "-fno-tree-loop-distribute-patterns"],
    CPPDEFINES=["TD_TARGET_QEMU", ("TD_QEMU_MACHINE", f'\\"{qemu_machine}\\"'),
                ("TD_CLOCK_HZ", board.get("build.f_cpu")),
                ("TD_UART_BASE", board.get("build.uart_base"))],
    LINKFLAGS=[*machine_flags, "-Wl,--gc-sections", "-nostartfiles", "--specs=nano.specs",
               "-Wl,-Map,${BUILD_DIR}/firmware.map"],
    LIBS=["c", "gcc"],
    LIBPATH=[os.path.join(platform.get_dir(), "ldscripts")],
    BUILDERS=dict(ElfToBin=Builder(
        action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
        suffix=".bin")),
)
if not board.get("build.ldscript", ""):
    sys.stderr.write("Error: board has no build.ldscript\n")
    env.Exit(1)
env.Replace(LDSCRIPT_PATH=os.path.join(platform.get_dir(), "ldscripts",
                                       board.get("build.ldscript")))

qemu_flags = env.GetProjectOption("board_qemu_flags", "")
qemu_cmd = (f"qemu-system-arm -M {qemu_machine} -display none -monitor none -serial stdio "
            f"-icount shift=0 -semihosting-config enable=on,target=native {qemu_flags} "
            "-kernel $SOURCE")

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
