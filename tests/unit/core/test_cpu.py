"""The start-up CPU check and the build information it reads, with simulated CPUs.

The CPUs are simulated by their feature lists, in the form each OS gives them (a
/proc/cpuinfo flags line, macOS sysctl output, Windows IsProcessorFeaturePresent
answers): no real old CPU is at hand. The parsers and the real /proc/cpuinfo of this
machine are tested too, so the simulation is the same path the app takes.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest

from llmos_desktop.build_info import (
    BUILD_INFO_FILE,
    BuildInfo,
    file_name_tag,
    parse_build_info,
    read_build_info,
)
from llmos_desktop.core import cpu

# Intel Sandy Bridge (2011): AVX, but no AVX2, FMA, F16C or BMI2.
SANDY_BRIDGE = (
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx rdtscp lm constant_tsc "
    "arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc aperfmperf pni pclmulqdq "
    "dtes64 monitor ds_cpl vmx est tm2 ssse3 cx16 xtpr pdcm pcid sse4_1 sse4_2 x2apic "
    "popcnt tsc_deadline_timer aes xsave avx lahf_lm epb pti tpr_shadow vnmi flexpriority "
    "ept vpid xsaveopt dtherm ida arat pln pts\n"
)
# AMD Zen 3 (no AVX-512), as a VM reports it.
ZEN3 = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
    "clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm "
    "constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 "
    "sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm sse4a "
    "bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt "
    "vaes vpclmulqdq rdpid fsrm\n"
)
V3_REQUIRED = ("avx", "avx2", "bmi2", "f16c", "fma", "sse3", "ssse3")
PORTABLE = BuildInfo(
    variant="portable",
    starter=True,
    cpu_arch="x86_64",
    cpu_baseline="x86-64-v3",
    cpu_required=V3_REQUIRED,
)
SYSTEM_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)


def test_an_old_cpu_is_told_what_it_lacks_and_what_to_install() -> None:
    check = cpu.check_cpu(PORTABLE, cpu.parse_cpuinfo(SANDY_BRIDGE))
    assert check is not None
    assert check.missing == ("avx2", "bmi2", "f16c", "fma")
    assert check.missing_labels == ("AVX2", "BMI2", "F16C", "FMA")
    message = cpu.describe(check)
    assert "lacks AVX2, BMI2, F16C, FMA" in message
    assert "x86-64-v3" in message
    assert "illegal instruction" in message
    assert cpu.SOURCE_URL in message
    assert cpu.unsupported_cpu_message(PORTABLE, cpu.parse_cpuinfo(SANDY_BRIDGE)) == message


def test_a_cpu_with_every_feature_gets_no_message() -> None:
    assert cpu.check_cpu(PORTABLE, cpu.parse_cpuinfo(ZEN3)) is None
    assert cpu.unsupported_cpu_message(PORTABLE, cpu.parse_cpuinfo(ZEN3)) is None


def test_a_native_build_names_its_build_machine() -> None:
    native = BuildInfo(
        variant="native", cpu_arch="x86_64", cpu_required=(*V3_REQUIRED, "avx512f", "avx512bw")
    )
    check = cpu.check_cpu(native, cpu.parse_cpuinfo(ZEN3))
    assert check is not None
    assert check.missing == ("avx512bw", "avx512f")
    assert check.native_build
    assert "built for the processor of the computer it was built on" in cpu.describe(check)


@pytest.mark.parametrize("variant", ["development", "unknown"])
def test_no_check_without_recorded_requirements(variant: str) -> None:
    info = BuildInfo(variant=variant)  # type: ignore[arg-type]
    assert cpu.check_cpu(info, cpu.parse_cpuinfo(SANDY_BRIDGE)) is None


def test_a_cpu_list_without_flags_judges_nothing() -> None:
    report = cpu.parse_cpuinfo("processor\t: 0\nmodel name\t: something\n")
    assert cpu.check_cpu(PORTABLE, report) is None


def test_arm_linux_features() -> None:
    report = cpu.parse_cpuinfo(
        "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
        "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    )
    arm = BuildInfo(variant="portable", cpu_arch="arm64", cpu_required=("asimd", "asimddp", "i8mm"))
    check = cpu.check_cpu(arm, report)
    assert check is not None and check.missing == ("i8mm",)


def test_macos_intel_sysctl() -> None:
    text = (
        "machdep.cpu.features: FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV "
        "PAT PSE36 CLFSH DS ACPI MMX FXSR SSE SSE2 SS HTT TM PBE SSE3 PCLMULQDQ DTES64 MON "
        "DSCPL VMX EST TM2 SSSE3 FMA CX16 TPR PDCM SSE4.1 SSE4.2 x2APIC MOVBE POPCNT AES "
        "PCID XSAVE OSXSAVE SEGLIM64 TSCTMR AVX1.0 RDRAND F16C\n"
        "machdep.cpu.leaf7_features: RDWRFSGS TSC_THREAD_OFFSET SGX BMI1 HLE AVX2 SMEP BMI2 "
        "ERMS INVPCID RTM FPU_CSDS MPX RDSEED ADX SMAP CLFSOPT IPT MDCLEAR TSXFA IBRS STIBP "
        "L1DF SSBD\n"
        "machdep.cpu.extfeatures: SYSCALL XD 1GBPAGE EM64T LAHF LZCNT PREFETCHW RDTSCP TSCI\n"
    )
    report = cpu.parse_macos_sysctl(text, arm=False)
    assert {"avx", "avx2", "fma", "f16c", "bmi2", "sse4_1", "abm"} <= report.features
    assert cpu.check_cpu(PORTABLE, report) is None
    assert cpu.parse_macos_sysctl(text.replace(" AVX2", ""), arm=False).lacks(V3_REQUIRED) == (
        "avx2",
    )


def test_macos_apple_silicon_sysctl() -> None:
    m1 = (
        "hw.optional.arm.FEAT_FP16: 1\nhw.optional.arm.FEAT_DotProd: 1\n"
        "hw.optional.arm.FEAT_I8MM: 0\nhw.optional.neon: 1\nhw.optional.floatingpoint: 1\n"
    )
    report = cpu.parse_macos_sysctl(m1, arm=True)
    assert report.features == {"asimd", "asimdhp", "asimddp"}
    metal = BuildInfo(variant="portable", cpu_required=("asimd", "asimddp", "i8mm", "sve"))
    check = cpu.check_cpu(metal, report)
    # SVE is not something macOS reports: it is never called missing there.
    assert check is not None and check.missing == ("i8mm",)


def test_windows_judges_only_what_it_can_report() -> None:
    # An AVX-only CPU: Windows cannot tell FMA, F16C or BMI2, so only AVX2 is named.
    report = cpu.windows_report({13: True, 36: True, 37: True, 38: True, 39: True}, arm=False)
    check = cpu.check_cpu(PORTABLE, report)
    assert check is not None and check.missing == ("avx2",)
    modern = cpu.windows_report({n: True for n in (13, 36, 37, 38, 39, 40)}, arm=False)
    assert cpu.check_cpu(PORTABLE, modern) is None


def test_features_from_llama_cpp_system_info() -> None:
    assert cpu.features_from_system_info(SYSTEM_INFO) == frozenset(V3_REQUIRED)
    assert cpu.features_from_system_info("CPU : AVX512 = 1 | AMX_INT8 = 1 | AVX2 = 0") == {
        "avx512f",
        "amx_tile",
        "amx_int8",
    }
    assert cpu.features_from_system_info(
        "CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | MATMUL_INT8 = 1 | "
    ) == {"asimd", "asimdhp", "asimddp", "i8mm"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_this_machines_cpu_is_read() -> None:
    report = cpu.running_cpu()
    assert report is not None and report.source == "/proc/cpuinfo"
    assert report.known is None
    if platform.machine() in ("x86_64", "AMD64"):
        assert {"sse2", "sse3"} <= report.features  # pni is the kernel's name for SSE3
    else:
        assert report.features


def test_the_check_reads_the_bundles_build_info(tmp_path: Path) -> None:
    (tmp_path / BUILD_INFO_FILE).write_text(json.dumps(PORTABLE.to_json()), "utf-8")
    info = read_build_info(tmp_path)
    assert info == PORTABLE
    assert cpu.check_cpu(info, cpu.parse_cpuinfo(SANDY_BRIDGE)) is not None


def test_build_info_from_source_is_development() -> None:
    assert read_build_info().is_development  # this test runs from a checkout


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        json.dumps({"format": 99}),
        json.dumps({**PORTABLE.to_json(), "variant": "turbo"}),
        json.dumps({**PORTABLE.to_json(), "starter": "yes"}),
        json.dumps({**PORTABLE.to_json(), "cpu": {"required": ["avx2; rm -rf"]}}),
        json.dumps({**PORTABLE.to_json(), "cpu": {"required": ["a"] * 65}}),
        json.dumps({**PORTABLE.to_json(), "version": "x" * 5000}),
    ],
)
def test_a_damaged_build_info_reads_as_unknown(tmp_path: Path, text: str) -> None:
    (tmp_path / BUILD_INFO_FILE).write_text(text, "utf-8")
    info = read_build_info(tmp_path)
    assert info.variant == "unknown"
    assert cpu.check_cpu(info, cpu.parse_cpuinfo(SANDY_BRIDGE)) is None


def test_a_bundle_without_build_info_is_unknown(tmp_path: Path) -> None:
    assert read_build_info(tmp_path).variant == "unknown"


def test_build_info_round_trips() -> None:
    native = BuildInfo(
        variant="native",
        starter=False,
        version="0.1.0",
        cpu_arch="x86_64",
        cpu_required=("avx512f", "avx2"),
        llama_cpp_python="0.3.36",
    )
    again = parse_build_info(json.loads(json.dumps(native.to_json())))
    assert again.cpu_required == ("avx2", "avx512f")  # sorted
    assert again.is_native and not again.starter


@pytest.mark.parametrize(
    ("portable", "starter", "tag"),
    [
        (True, True, ""),
        (False, True, "native"),
        (True, False, "nostarter"),
        (False, False, "native-nostarter"),
    ],
)
def test_file_name_tags(portable: bool, starter: bool, tag: str) -> None:
    assert file_name_tag(portable=portable, starter=starter) == tag
