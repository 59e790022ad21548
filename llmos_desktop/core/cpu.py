"""Can this CPU run the bundled engine? Checked at start-up, before llama.cpp is loaded.

An installer's llama.cpp is compiled for a CPU baseline (x86-64-v3: AVX, AVX2, FMA, F16C,
BMI2 for a portable build; the build machine's own CPU for a ``--native`` one). On a CPU
without those instructions the engine process dies with SIGILL at its first model load,
and the user sees a crash code. So the app compares, once at start-up, the features the
build needs (``build-info.json``, written by packaging/build.py from llama.cpp's own
report and from the libraries' machine code) with the running CPU's, and the window says
in words what is missing and what to install instead (ui/cpu_notice.py).

Where the running CPU's features come from:

- Linux: the ``flags`` (x86) or ``Features`` (ARM) line of /proc/cpuinfo; the kernel
  leaves out what the OS does not enable (AVX without XSAVE support, for example).
- macOS: ``sysctl machdep.cpu.*`` (Intel) or ``hw.optional.*`` (Apple Silicon).
- Windows: ``IsProcessorFeaturePresent``, which knows SSE3 to AVX-512F and ARM's dot
  product but not FMA, F16C or BMI2: those are not judged there (every CPU with AVX2
  that Windows runs on has them).

Feature names are Linux's /proc/cpuinfo names (``avx2``, ``avx512f``, ``asimddp``). A
feature the platform cannot report is never called missing: the check only speaks when
it knows. A source checkout needs no check (pip compiled llama.cpp for this machine).

Qt-free; the simulated-CPU tests pass ``CpuReport`` values made by the parsers below.
"""

from __future__ import annotations

import contextlib
import platform
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from llmos_desktop.build_info import BuildInfo, read_build_info

SOURCE_URL = "https://github.com/llmos-desktop/llmos-desktop"
"""What the message suggests instead: the source, whose pip install (the README's first
command) compiles llama.cpp for the machine it runs on."""

LABELS: dict[str, str] = {
    "sse3": "SSE3",
    "ssse3": "SSSE3",
    "sse4_1": "SSE4.1",
    "sse4_2": "SSE4.2",
    "popcnt": "POPCNT",
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "bmi1": "BMI1",
    "bmi2": "BMI2",
    "abm": "LZCNT",
    "movbe": "MOVBE",
    "avx512f": "AVX-512",
    "avx512bw": "AVX-512BW",
    "avx512vl": "AVX-512VL",
    "avx512dq": "AVX-512DQ",
    "avx512cd": "AVX-512CD",
    "avx512vbmi": "AVX-512 VBMI",
    "avx512_vnni": "AVX-512 VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx512_fp16": "AVX-512 FP16",
    "avx_vnni": "AVX-VNNI",
    "amx_tile": "AMX",
    "amx_int8": "AMX-INT8",
    "amx_bf16": "AMX-BF16",
    "asimd": "NEON",
    "asimdhp": "NEON FP16",
    "asimddp": "NEON dot product",
    "i8mm": "Int8 matrix multiply (I8MM)",
    "sve": "SVE",
    "sme": "SME",
}
"""How the message names each feature (cpuinfo name -> the name vendors print)."""

# llama.cpp's system info ("AVX2 = 1 | ...") -> cpuinfo names (packaging/build.py).
SYSTEM_INFO_FEATURES: dict[str, tuple[str, ...]] = {
    "SSE3": ("sse3",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": ("avx512f",),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AVX_VNNI": ("avx_vnni",),
    "AMX_INT8": ("amx_tile", "amx_int8"),
    "NEON": ("asimd",),
    "ARM_FMA": ("asimd",),
    "FP16_VA": ("asimdhp",),
    "DOTPROD": ("asimddp",),
    "MATMUL_INT8": ("i8mm",),
    "SVE": ("sve",),
    "SME": ("sme",),
}

# macOS sysctl names (machdep.cpu.features / leaf7_features / extfeatures, upper case)
# that differ from cpuinfo's.
_MACOS_X86 = {
    "avx1.0": "avx",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
    "lzcnt": "abm",
    "avx512vnni": "avx512_vnni",
    "avx512bf16": "avx512_bf16",
    "avx512fp16": "avx512_fp16",
    "avxvnni": "avx_vnni",
    "amxtile": "amx_tile",
    "amxint8": "amx_int8",
    "amxbf16": "amx_bf16",
}
# Apple Silicon: hw.optional.<name>: 1
_MACOS_ARM = {
    "neon": "asimd",
    "AdvSIMD": "asimd",
    "arm.AdvSIMD": "asimd",
    "arm.FEAT_FP16": "asimdhp",
    "neon_fp16": "asimdhp",
    "arm.FEAT_DotProd": "asimddp",
    "arm.FEAT_I8MM": "i8mm",
    "arm.FEAT_SME": "sme",
}
# Windows: IsProcessorFeaturePresent's PF_* numbers (winnt.h).
_WINDOWS_X86 = {
    13: "sse3",
    36: "ssse3",
    37: "sse4_1",
    38: "sse4_2",
    39: "avx",
    40: "avx2",
    41: "avx512f",
}
_WINDOWS_ARM = {19: "asimd", 43: "asimddp"}


@dataclass(frozen=True)
class CpuReport:
    """The running CPU's features; ``known``: the features this platform can tell about
    (None: all of them; a feature outside ``known`` is never called missing)."""

    features: frozenset[str]
    known: frozenset[str] | None = None
    source: str = ""

    def lacks(self, required: Iterable[str]) -> tuple[str, ...]:
        return tuple(
            sorted(
                f
                for f in set(required)
                if f not in self.features and (self.known is None or f in self.known)
            )
        )


@dataclass(frozen=True)
class CpuCheck:
    """A CPU that lacks what the bundled engine needs (``check_cpu`` returns None otherwise)."""

    missing: tuple[str, ...]
    native_build: bool
    baseline: str

    @property
    def missing_labels(self) -> tuple[str, ...]:
        return tuple(sorted(LABELS.get(f, f.upper()) for f in self.missing))


def features_from_system_info(system_info: str) -> frozenset[str]:
    """cpuinfo names of the features llama.cpp says it was compiled with (``AVX2 = 1``)."""
    found: set[str] = set()
    for match in re.finditer(r"\b([A-Z0-9_]+) = 1\b", system_info):
        found.update(SYSTEM_INFO_FEATURES.get(match[1], ()))
    return frozenset(found)


def parse_cpuinfo(text: str) -> CpuReport:
    """/proc/cpuinfo: the first ``flags`` (x86) or ``Features`` (ARM) line."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            flags = set(value.split())
            if "pni" in flags:  # the kernel's name for SSE3
                flags.add("sse3")
            return CpuReport(frozenset(flags), source="/proc/cpuinfo")
    return CpuReport(frozenset(), known=frozenset(), source="/proc/cpuinfo (no flags line)")


def parse_macos_sysctl(text: str, *, arm: bool) -> CpuReport:
    """``sysctl machdep.cpu.features machdep.cpu.leaf7_features machdep.cpu.extfeatures``
    (Intel: names separated by spaces) or ``sysctl hw.optional`` (Apple Silicon)."""
    if arm:
        features: set[str] = set()
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            name = name.strip().removeprefix("hw.optional.")
            if sep and value.strip() == "1" and name in _MACOS_ARM:
                features.add(_MACOS_ARM[name])
        return CpuReport(
            frozenset(features), known=frozenset(_MACOS_ARM.values()), source="sysctl hw.optional"
        )
    words: set[str] = set()
    for line in text.splitlines():
        _name, _sep, value = line.rpartition(":")
        words.update(w.lower() for w in value.split())
    features = {_MACOS_X86.get(w, w) for w in words}
    return CpuReport(frozenset(features), source="sysctl machdep.cpu")


def windows_report(present: dict[int, bool], *, arm: bool) -> CpuReport:
    """From IsProcessorFeaturePresent answers (PF_* number -> present)."""
    table = _WINDOWS_ARM if arm else _WINDOWS_X86
    features = frozenset(name for number, name in table.items() if present.get(number))
    return CpuReport(features, known=frozenset(table.values()), source="IsProcessorFeaturePresent")


def _is_arm(machine: str) -> bool:
    return machine.lower() in ("arm64", "aarch64", "armv8", "armv8l") or machine.lower().startswith(
        "arm"
    )


def running_cpu() -> CpuReport | None:
    """This CPU's features, or None when this platform cannot tell (nothing is judged)."""
    machine = platform.machine()
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                return parse_cpuinfo(handle.read(1 << 20))
        if sys.platform == "darwin":
            arm = _is_arm(machine)
            names = (
                ["hw.optional"]
                if arm
                else [
                    "machdep.cpu.features",
                    "machdep.cpu.leaf7_features",
                    "machdep.cpu.extfeatures",
                ]
            )
            out = subprocess.run(
                ["sysctl", *names], capture_output=True, text=True, timeout=5, check=False
            )
            return parse_macos_sysctl(out.stdout, arm=arm)
        if sys.platform == "win32":
            import ctypes

            arm = _is_arm(machine)
            present_fn = ctypes.windll.kernel32.IsProcessorFeaturePresent  # type: ignore[attr-defined,unused-ignore]
            table = _WINDOWS_ARM if arm else _WINDOWS_X86
            return windows_report({n: bool(present_fn(n)) for n in table}, arm=arm)
    except (OSError, subprocess.SubprocessError, AttributeError):
        return None
    return None


def check_cpu(info: BuildInfo | None = None, report: CpuReport | None = None) -> CpuCheck | None:
    """What this CPU lacks of what the build needs; None when nothing (or nothing known).

    Blocking (a file read, on macOS a sysctl): run it off the GUI thread.
    """
    if info is None:
        info = read_build_info()
    if not info.cpu_required:
        return None  # development, an unknown build, or nothing recorded
    if report is None:
        report = running_cpu()
    if report is None:
        return None
    missing = report.lacks(info.cpu_required)
    if not missing:
        return None
    return CpuCheck(missing=missing, native_build=info.is_native, baseline=info.cpu_baseline)


def describe(check: CpuCheck) -> str:
    """The English message (the log, the command line); the window translates its own."""
    features = ", ".join(check.missing_labels)
    if check.native_build:
        built = (
            "This copy of LLMOS Desktop was built for the processor of the computer it was built on"
        )
    elif check.baseline:
        built = f"This copy of LLMOS Desktop was built for {check.baseline} processors"
    else:
        built = "This copy of LLMOS Desktop was built for newer processors"
    return (
        f"This computer's processor lacks {features}. {built}, so its engine cannot run "
        "here: loading a model would stop it with an 'illegal instruction' error. Install "
        f"LLMOS Desktop from its source code instead ({SOURCE_URL}, the README's first "
        "command: pip compiles the engine for this processor), or a build made for older "
        "processors."
    )


def unsupported_cpu_message(
    info: BuildInfo | None = None, report: CpuReport | None = None
) -> str | None:
    """``describe(check_cpu())``: None when this CPU can run the bundled engine."""
    with contextlib.suppress(OSError):
        check = check_cpu(info, report)
        return None if check is None else describe(check)
    return None
