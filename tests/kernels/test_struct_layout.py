"""The ctypes mirrors of tdnn's structs match the C compiler's layout, field by field.

A C probe built against tdnn_types.h prints sizeof and every offsetof; the parameter
structs (tinydeploy.tdnn.structs) and every weight format's descriptor must agree, so a
field added or reordered on one side fails here instead of corrupting a kernel call.
"""

from __future__ import annotations

import ctypes as C
import subprocess

import pytest
from tools_required import unavailable

from tinydeploy.tdnn.build import compile_host
from tinydeploy.tdnn.formats import format_classes
from tinydeploy.tdnn.structs import PARAM_STRUCTS


def mirrors() -> dict[str, type[C.Structure]]:
    found = dict(PARAM_STRUCTS)
    for cls in format_classes():
        if cls.descriptor is not None:
            found[cls.descriptor.c_type] = cls.descriptor.ctypes_struct
    return found


def probe_source(structs: dict[str, type[C.Structure]]) -> str:
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "tdnn.h"',
             "int main(void)", "{"]
    for c_name, mirror in structs.items():
        lines.append(f'    printf("{c_name} sizeof %zu\\n", sizeof({c_name}));')
        for field, _ in mirror._fields_:
            lines.append(f'    printf("{c_name} {field} %zu\\n", offsetof({c_name}, {field}));')
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory) -> dict[tuple[str, str], int]:
    import shutil

    if shutil.which("gcc") is None:
        unavailable("gcc (host C compiler) is not installed")
    tmp = tmp_path_factory.mktemp("layout")
    (tmp / "probe.c").write_text(probe_source(mirrors()))
    exe = compile_host([tmp / "probe.c"], tmp / "probe", what="the struct layout probe")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {(s, f): int(v) for s, f, v in (line.split() for line in out.splitlines())}


@pytest.mark.parametrize("c_name", sorted(mirrors()))
def test_mirror_matches_c(c_layout, c_name):
    mirror = mirrors()[c_name]
    assert C.sizeof(mirror) == c_layout[(c_name, "sizeof")]
    for field, _ in mirror._fields_:
        assert getattr(mirror, field).offset == c_layout[(c_name, field)], field


def test_every_struct_of_the_header_is_mirrored():
    from tinydeploy.resources import tdnn_dir

    header = (tdnn_dir() / "include" / "tdnn_types.h").read_text()
    import re

    declared = set(re.findall(r"^\}\s*(td_\w+)\s*;", header, re.MULTILINE)) - {"td_status"}
    assert declared == set(mirrors())
