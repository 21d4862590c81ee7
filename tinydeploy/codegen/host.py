"""Compile a generated model for the host (gcc + tdnn sources + a small driver) and run it.

The driver checks the golden self-test, then reads inputs from stdin and writes the outputs
to stdout (raw elements of the model's I/O types: int8, uint8 or float32), so tests can
compare the C code with the reference executor.
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
    static tdm_input_t in[TDM_INPUT_SIZE];
    static tdm_output_t out[TDM_OUTPUT_SIZE];
    int rc = tdm_invoke(tdm_golden_input, out, arena);
    if (rc != 0) { fprintf(stderr, "tdm_invoke failed: %d\n", rc); return 2; }
    if (memcmp(out, tdm_golden_output, sizeof out) != 0) {
        fprintf(stderr, "golden self-check mismatch\n");
        return 3;
    }
    while (fread(in, sizeof in[0], TDM_INPUT_SIZE, stdin) == TDM_INPUT_SIZE) {
        rc = tdm_invoke(in, out, arena);
        if (rc != 0) { fprintf(stderr, "tdm_invoke failed: %d\n", rc); return 2; }
        fwrite(out, sizeof out[0], TDM_OUTPUT_SIZE, stdout);
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


def run_host(exe: str | Path, inputs: np.ndarray, output_size: int,
             output_dtype: str = "int8") -> np.ndarray:
    """Run inputs (B, ...) through the host build; returns (B, output_size) of
    `output_dtype`. Inputs keep their dtype when it is uint8 or float32 (the model's input
    type), anything else is sent as int8."""
    inputs = np.asarray(inputs)
    in_dtype = inputs.dtype if inputs.dtype in (np.uint8, np.float32) else np.int8
    data = np.ascontiguousarray(inputs, dtype=in_dtype).tobytes()
    proc = subprocess.run([str(exe)], input=data, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise FirmwareError(f"host model run failed ({proc.returncode}): "
                            f"{proc.stderr.decode(errors='replace')}")
    return np.frombuffer(proc.stdout, dtype=output_dtype).reshape(len(inputs), output_size)
