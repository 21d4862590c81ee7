"""PlatformIO extra script (pre): add the generated model and the kernel library to a build.

Shared by the QEMU envs and the real-board envs. Driven by environment variables that
`tinydeploy firmware build` sets (they can be set by hand for a plain `pio run`):

  TD_MODEL_DIR  folder with the generated model (model.h, model.c, any other *.c); required
  TD_GEN_DIR    folder with generated test data (test_data.h/.c); optional. Without it a
                test_data.c in TD_MODEL_DIR is used, else the model's golden vector.
  TD_OPT        optimisation level: O2 (default), Os, O3, ...
  TD_KERNELS    auto (default: link lib/tdnn when the model sources mention tdnn), yes, no
  TD_BOARD      board name printed in the report (default: the PlatformIO env name)
  TD_STACK_SIZE stack bytes reserved by the QEMU linker script (default 32768)
  TD_HANDSHAKE  1: on exit the QEMU firmware waits for an ACK byte on the UART (the pty
                reader of tinydeploy sends it), so no report line is lost when QEMU exits
  TD_SEMIHOSTING  STM32 port: 1 = QEMU mode (exit through semihosting), 0 = board mode (wait
                for the host's start byte, park after the report); default: the board's
                build.semihosting (true for the QEMU STM32 machines)
  TD_BAUD       serial baud rate of the report USART (STM32 port; default 115200)
"""

import os
import re

Import("env")  # noqa: F821  (SCons injects Import)

env = DefaultEnvironment()  # noqa: F821


def _fail(msg):
    import sys

    sys.stderr.write(f"Error: {msg}\n")
    env.Exit(1)


model_dir = os.environ.get("TD_MODEL_DIR", "")
if not model_dir:
    _fail("TD_MODEL_DIR is not set: use `tinydeploy firmware build --model-dir DIR` or export "
          "TD_MODEL_DIR=<folder with model.h/model.c>")
model_dir = os.path.abspath(model_dir)
if not os.path.isfile(os.path.join(model_dir, "model.h")):
    _fail(f"{model_dir} has no model.h (the generated model)")

gen_dir = os.environ.get("TD_GEN_DIR", "")
gen_dir = os.path.abspath(gen_dir) if gen_dir else ""
have_gen_data = bool(gen_dir) and os.path.isfile(os.path.join(gen_dir, "test_data.c"))
have_model_data = os.path.isfile(os.path.join(model_dir, "test_data.c"))

opt = os.environ.get("TD_OPT", "O2").lstrip("-")
if not re.fullmatch(r"O[0-3sgz]|Ofast", opt):
    _fail(f"TD_OPT={opt!r} is not a GCC optimisation level (O2, Os, O3...)")

# the project's lib_dir (the package's firmware/lib when tinydeploy wrote the project)
kernel_dir = os.path.join(env.GetProjectConfig().get("platformio", "lib_dir"), "tdnn")
kernels = os.environ.get("TD_KERNELS", "auto")
if kernels == "auto":
    kernels = "no"
    for name in os.listdir(model_dir):
        if name.endswith((".c", ".h")):
            with open(os.path.join(model_dir, name), errors="replace") as fp:
                if "tdnn" in fp.read():
                    kernels = "yes"
                    break

board_name = os.environ.get("TD_BOARD", env["PIOENV"])
env.Append(
    CCFLAGS=["-" + opt],
    CPPPATH=[model_dir] + ([gen_dir] if gen_dir else []),
    CPPDEFINES=["TDM_PROFILE",
                ("TD_BOARD_NAME", f'\\"{board_name}\\"')],
)
if have_gen_data or have_model_data:
    env.Append(CPPDEFINES=["TD_HAVE_TEST_DATA"])
if os.environ.get("TD_HANDSHAKE", "0") == "1":
    env.Append(CPPDEFINES=["TD_EXIT_HANDSHAKE"])
semihosting = os.environ.get("TD_SEMIHOSTING", "")
if semihosting not in ("", "0", "1"):
    _fail(f"TD_SEMIHOSTING={semihosting!r} must be 0 or 1")
if semihosting == "1" or (not semihosting and env.BoardConfig().get("build.semihosting", False)):
    env.Append(CPPDEFINES=["TD_SEMIHOSTING"])
baud = os.environ.get("TD_BAUD", "")
if baud:
    if not baud.isdigit():
        _fail(f"TD_BAUD={baud!r} is not a baud rate")
    env.Append(CPPDEFINES=[("TD_SERIAL_BAUD", f"{baud}u")])
if os.environ.get("TD_STACK_SIZE"):
    stack = int(os.environ["TD_STACK_SIZE"])
    env.Append(LINKFLAGS=[f"-Wl,--defsym=__td_stack_size={stack}"])
if env.get("PIOPLATFORM") != "td-qemu-cortexm" and "-Wl,-Map" not in str(env.get("LINKFLAGS")):
    env.Append(LINKFLAGS=["-Wl,-Map,${BUILD_DIR}/firmware.map"])

model_filter = "-<*> +<*.c> +<*.cpp>" + (" -<test_data.c>" if have_gen_data else "")
env.BuildSources(os.path.join("$BUILD_DIR", "td_model"), model_dir, model_filter)
if have_gen_data:
    env.BuildSources(os.path.join("$BUILD_DIR", "td_gen"), gen_dir, "-<*> +<test_data.c>")
if kernels == "yes":
    if not os.path.isdir(os.path.join(kernel_dir, "src")):
        _fail(f"the model uses tdnn but {kernel_dir}/src does not exist")
    env.Append(CPPPATH=[os.path.join(kernel_dir, "include")])
    env.BuildSources(os.path.join("$BUILD_DIR", "td_tdnn"), os.path.join(kernel_dir, "src"),
                     "+<*>")
    env.Append(CPPPATH=[os.path.join(kernel_dir, "src")])
