"""Compile a generated model for the host (gcc + tdnn sources + a small driver) and run it.

The driver checks the golden self-test, then reads int8 inputs from stdin and writes the
int8 outputs to stdout, so tests can compare the C code with the reference executor.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tinydeploy.errors import FirmwareError
from tinydeploy.tdnn.build import compile_host

DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "model.h"

static _Alignas(16) int8_t arena[TDM_ARENA_SIZE];

#ifdef TDM_PROFILE
static int depth;
void tdm_layer_begin(int layer) { (void)layer; ++depth; }
void tdm_layer_end(int layer) { (void)layer; --depth; }
#endif

int main(void)
{
    static int8_t in[TDM_INPUT_SIZE], out[TDM_OUTPUT_SIZE];
    int rc = tdm_invoke(tdm_golden_input, out, arena);
    if (rc != 0) { fprintf(stderr, "tdm_invoke failed: %d\n", rc); return 2; }
    if (memcmp(out, tdm_golden_output, TDM_OUTPUT_SIZE) != 0) {
        fprintf(stderr, "golden self-check mismatch\n");
        return 3;
    }
    while (fread(in, 1, TDM_INPUT_SIZE, stdin) == TDM_INPUT_SIZE) {
        rc = tdm_invoke(in, out, arena);
        if (rc != 0) { fprintf(stderr, "tdm_invoke failed: %d\n", rc); return 2; }
        fwrite(out, 1, TDM_OUTPUT_SIZE, stdout);
    }
    return 0;
}
"""


def build_host_runner(model_dir: str | Path, build_dir: str | Path, *, profile: bool = False,
                      cc: str = "gcc") -> Path:
    """Compile model.c (and any other C file beside it) + tdnn + the driver into
    `build_dir/run_model` with the library's host recipe; errors raise."""
    model_dir, build_dir = Path(model_dir), Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    driver = build_dir / "driver.c"
    driver.write_text(DRIVER)
    return compile_host([*sorted(model_dir.glob("*.c")), driver], build_dir / "run_model",
                        what="the generated model", include_dirs=[model_dir],
                        extra_cflags=["-DTDM_PROFILE"] if profile else [], cc=cc)


def run_host(exe: str | Path, inputs: np.ndarray, output_size: int) -> np.ndarray:
    """Run int8 inputs (B, ...) through the host build; returns (B, output_size) int8."""
    data = np.ascontiguousarray(inputs, dtype=np.int8).tobytes()
    proc = subprocess.run([str(exe)], input=data, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise FirmwareError(f"host model run failed ({proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace')}")
    return np.frombuffer(proc.stdout, dtype=np.int8).reshape(len(inputs), output_size)
