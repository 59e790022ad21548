"""The machine code of the bundled llama.cpp: nothing beyond the documented CPU baseline.

packaging/machine_code.py classifies every instruction objdump prints. It is tested on
real machine code: small objects assembled here with binutils' ``as`` (x86-64-v3 code,
and code with AVX-512, AVX-VNNI and AMX), then on the bundle's own libraries when a
bundle exists (``LLMOS_BUNDLE_DIR`` or dist/llmos-desktop): a portable build must hold
no instruction beyond its baseline, and its build-info.json must name every feature its
code uses (the start-up CPU check reads that list).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import load_script

machine_code = load_script("machine_code.py", "machine_code")
build = load_script("build.py", "llmos_packaging_build")

X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_binutils = pytest.mark.skipif(
    not X86 or shutil.which("as") is None or machine_code.objdump() is None,
    reason="needs an x86-64 machine with binutils (as, objdump)",
)

V3_CODE = """
    .text
    .globl v3_kernel
v3_kernel:
    vaddps %ymm0, %ymm1, %ymm2
    vpaddd %ymm0, %ymm1, %ymm2
    vpermq $0x4e, %ymm0, %ymm1
    vfmadd231ps %ymm0, %ymm1, %ymm2
    vcvtph2ps %xmm0, %ymm1
    shlx %rax, %rbx, %rcx
    andn %rax, %rbx, %rcx
    lzcnt %rax, %rbx
    pshufb %xmm0, %xmm1
    ptest %xmm0, %xmm1
    ret
"""
BEYOND_CODE = """
    .text
    .globl wide_kernel
wide_kernel:
    vpaddd %zmm0, %zmm1, %zmm2
    vaddps %ymm16, %ymm1, %ymm2
    vpternlogd $0x96, %ymm0, %ymm1, %ymm2
    kmovw %k1, %eax
    {vex} vpdpbusd %ymm0, %ymm1, %ymm2
    tdpbssd %tmm0, %tmm1, %tmm2
    vaddps %ymm0, %ymm1, %ymm2
    ret
"""


def _assemble(tmp_path: Path, name: str, code: str) -> Path:
    source = tmp_path / f"{name}.s"
    source.write_text(code, "utf-8")
    target = tmp_path / name
    subprocess.run(["as", "--64", "-o", str(target), str(source)], check=True)
    return target


@pytest.mark.parametrize(
    ("mnemonic", "operands", "expected"),
    [
        ("vpaddd", "%ymm0,%ymm1,%ymm2", {"avx", "avx2"}),
        ("vaddps", "%ymm0,%ymm1,%ymm2", {"avx"}),
        ("vpermilps", "$0x1,%ymm0,%ymm1", {"avx"}),  # AVX1 despite the vp- prefix
        ("vfmadd231ps", "%ymm0,%ymm1,%ymm2", {"avx", "fma"}),
        ("vcvtps2ph", "$0x0,%ymm0,%xmm1", {"avx", "f16c"}),
        ("vpaddd", "%zmm0,%zmm1,%zmm2", {"avx", "avx512f"}),
        ("vmovups", "%xmm17,(%rax)", {"avx", "avx512f"}),
        ("vaddps", "%ymm0,%ymm1,%ymm2{%k1}{z}", {"avx", "avx512f"}),
        ("vbroadcastss", "(%rax){1to8},%ymm1", {"avx", "avx512f"}),
        ("vpdpbusd", "%ymm0,%ymm1,%ymm2", {"avx_vnni"}),
        ("vpdpbusd", "%zmm0,%zmm1,%zmm2", {"avx512_vnni"}),
        ("tdpbssd", "%tmm0,%tmm1,%tmm2", {"amx_tile"}),
        ("ldtilecfg", "(%rax)", {"amx_tile"}),
        ("vaesenc", "%ymm0,%ymm1,%ymm2", {"avx", "vaes"}),
        ("vaesenc", "%xmm0,%xmm1,%xmm2", {"avx"}),
        ("vaddph", "%ymm0,%ymm1,%ymm2", {"avx", "avx512_fp16"}),
        ("shrx", "%rax,%rbx,%rcx", {"bmi2"}),
        ("tzcnt", "%rax,%rbx", set()),  # rep bsf: runs as bsf on older CPUs
        ("blsr", "%rax,%rbx", {"bmi1"}),
        ("movbe", "(%rax),%ebx", {"movbe"}),
        ("verw", "(%rax)", set()),
        ("addps", "%xmm0,%xmm1", set()),
        ("mov", "%rax,%rbx", set()),
    ],
)
def test_classify(mnemonic: str, operands: str, expected: set[str]) -> None:
    assert machine_code.classify(mnemonic, operands) == expected


def test_disassembly_lines_with_prefixes_and_symbols() -> None:
    text = (
        "0000000000001000 <ggml_vec_dot_q4_0_q8_0>:\n"
        "    1000:\t{vex} vpdpbusd %ymm3,%ymm2,%ymm1\n"
        "    1005:\tlock cmpxchg %ecx,(%rdx)\n"
        "    1009:\tvpaddd %zmm0,%zmm1,%zmm2\n"
        "    100f:\t(bad)\n"
    )
    scan = machine_code.scan_disassembly(text, label="libggml-cpu.so ")
    assert scan.instructions == 3
    assert scan.beyond("x86-64-v3") == {"avx512f": 1, "avx_vnni": 1}
    assert scan.examples["avx_vnni"] == [
        "libggml-cpu.so ggml_vec_dot_q4_0_q8_0: vpdpbusd %ymm3,%ymm2,%ymm1"
    ]


def test_baselines() -> None:
    assert machine_code.baseline_for({"avx", "avx2", "fma", "f16c", "bmi2"}) == "x86-64-v3"
    assert machine_code.baseline_for({"sse3", "ssse3"}) == "x86-64-v2"
    assert machine_code.baseline_for({"sse3", "avx"}) == "x86-64-v2+avx"


@needs_binutils
def test_real_v3_code_stays_within_v3(tmp_path: Path) -> None:
    obj = _assemble(tmp_path, "v3.o", V3_CODE)
    scan = machine_code.scan_file(obj, machine_code.objdump())
    assert {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "abm", "ssse3", "sse4_1"} <= set(
        scan.features
    )
    assert scan.beyond("x86-64-v3") == {}
    assert set(scan.beyond("x86-64-v2")) >= {"avx", "avx2", "fma"}


@needs_binutils
def test_real_avx512_vnni_and_amx_code_is_caught(tmp_path: Path) -> None:
    obj = _assemble(tmp_path, "wide.o", BEYOND_CODE)
    scan = machine_code.scan_file(obj, machine_code.objdump())
    assert set(scan.beyond("x86-64-v3")) == {"avx512f", "avx_vnni", "amx_tile"}
    assert scan.features["avx512f"] == 4  # zmm, ymm16, vpternlogd, the mask register
    assert any("wide_kernel" in e for e in scan.examples["amx_tile"])


def _fake_bundle(tmp_path: Path, code: str, *, starter: bool) -> Path:
    bundle = tmp_path / "bundle"
    lib = bundle / "_internal" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    obj = _assemble(tmp_path, "lib.o", code)
    shutil.copy(obj, lib / "libggml-cpu.so")
    (lib / "libggml-cpu.so.0").symlink_to("libggml-cpu.so")  # links are not read twice
    if starter:
        (bundle / "_internal" / "starter").mkdir()
    return bundle


LLAMA_V3 = {
    "version": "0.3.36",
    "app_version": "0.1.0",
    "system_info": "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | ",
}


@needs_binutils
def test_a_portable_build_with_code_beyond_its_baseline_is_refused(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path, BEYOND_CODE, starter=True)
    with pytest.raises(SystemExit, match=r"refusing a portable build.*beyond x86-64-v3") as caught:
        build.write_build_info(bundle, native=False, llama=LLAMA_V3, cmake_args="-DGGML_NATIVE=off")
    assert "wide_kernel" in str(caught.value)  # it names where
    assert not (bundle / "_internal" / "build-info.json").exists()


@needs_binutils
def test_a_native_build_records_what_its_code_needs(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path, BEYOND_CODE, starter=False)
    build.write_build_info(bundle, native=True, llama=LLAMA_V3, cmake_args="")
    from llmos_desktop.build_info import read_build_info

    info = read_build_info(bundle / "_internal")
    assert info.is_native and not info.starter
    assert {"avx512f", "avx_vnni", "amx_tile", "avx2", "fma"} <= set(info.cpu_required)
    assert info.cpu_baseline == ""


@needs_binutils
def test_a_portable_build_records_its_baseline(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path, V3_CODE, starter=True)
    data = build.write_build_info(
        bundle, native=False, llama=LLAMA_V3, cmake_args="-DGGML_NATIVE=off"
    )
    from llmos_desktop.build_info import read_build_info

    info = read_build_info(bundle / "_internal")
    assert info.is_portable and info.starter and info.cpu_baseline == "x86-64-v3"
    assert {"avx", "avx2", "fma", "f16c", "bmi2"} <= set(info.cpu_required)
    assert info.version == "0.1.0" and info.cmake_args == "-DGGML_NATIVE=off"
    checked = data["machine_code"]
    assert isinstance(checked, dict) and checked["libraries"] == ["libggml-cpu.so"]


def test_the_bundled_llama_libraries_stay_within_the_baseline(bundle_dir: Path) -> None:
    """The release path's check by hand (objdump | grep zmm), on every llama.cpp library."""
    if not X86:
        pytest.skip(f"the machine-code check reads x86-64 code (this is {platform.machine()})")
    tool = machine_code.objdump()
    if tool is None:
        pytest.skip("no objdump (binutils) to read the machine code with")
    from llmos_desktop.build_info import BUILD_INFO_FILE, read_build_info

    internal = bundle_dir / "_internal"
    if not (internal / BUILD_INFO_FILE).is_file():
        pytest.skip("this bundle has no build-info.json (built before issue 15)")
    info = read_build_info(internal)
    if info.is_native:
        pytest.skip("a --native build is for its build machine: no baseline to hold")
    libraries = machine_code.llama_libraries(internal)
    assert {p.name.split(".")[0] for p in libraries} >= {"libggml-cpu", "libllama"}
    scan = machine_code.scan_libraries(libraries, tool)
    beyond = scan.beyond(info.cpu_baseline)
    assert beyond == {}, scan.report(beyond)
    # The start-up check knows everything the code uses.
    assert set(scan.features) <= set(info.cpu_required)
    recorded = json.loads((internal / BUILD_INFO_FILE).read_text("utf-8"))
    assert recorded["machine_code"]["checked"] is True
