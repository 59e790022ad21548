"""Which x86-64 instruction-set features the bundled llama.cpp libraries really use.

A compile flag says what the compiler was allowed to use; the machine code says what it
did. ``packaging/build.py`` disassembles the bundle's ``libggml*`` / ``libllama*`` /
``libmtmd*`` with ``objdump -d`` and classifies each instruction:

- beyond any x86-64-v3 CPU: AVX-512 (a ``zmm`` or mask ``k`` register, ``xmm16``-``31``,
  EVEX-only mnemonics and decorations), AVX-VNNI (``{vex} vpdpbusd``), AMX (``tdp*``,
  ``tile*``), VAES/VPCLMULQDQ on ``ymm``, GFNI, FMA4, AVX-512 FP16 and BF16;
- what the build needs (recorded in build-info.json for the start-up check,
  core/cpu.py): AVX (any VEX instruction), AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE, and
  the SSE3 to SSE4.2 instructions of x86-64-v2.

A portable build whose code holds anything beyond its baseline is refused; a ``--native``
build records what it found. The same scan is a test (tests/packaging/
test_machine_code.py) on a built bundle. Names are Linux /proc/cpuinfo's. Only x86-64
ELF or Mach-O files are read (objdump handles both); other architectures are not
checked, and the caller says so.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

X86_64_V2 = frozenset({"sse3", "ssse3", "sse4_1", "sse4_2", "popcnt"})
X86_64_V3 = X86_64_V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"}
BASELINES: dict[str, frozenset[str]] = {
    "x86-64-v2": X86_64_V2,
    "x86-64-v2+avx": X86_64_V2 | {"avx"},
    "x86-64-v3": X86_64_V3,
}
"""Documented baselines: each name and the features a CPU of it has (beyond SSE2)."""

LIBRARY_PREFIXES = ("libggml", "libllama", "libmtmd", "ggml", "llama", "mtmd")

_LINE = re.compile(r"^\s*[0-9a-f]+:\s+(?P<text>\S.*)$")
_SYMBOL = re.compile(r"^[0-9a-f]+ <(?P<name>[^>]+)>:$")
_EVEX_REGISTER = re.compile(r"%(zmm\d+|[xy]mm(1[6-9]|2\d|3[01])|k[0-7])\b")
_EVEX_DECORATION = re.compile(r"\{(1to\d+|[a-z]{2}-sae|sae|z)\}")
_EVEX_ONLY = re.compile(
    r"^v("
    r"pternlog[dq]|perm[it]2\w+|pmovu?s?(qd|qw|qb|dw|db|wb)|p?compress\w+|p?expand\w+|"
    r"pconflict[dq]|plzcnt[dq]|rcp14\w+|rsqrt14\w+|rndscale\w+|reduce\w+|fixupimm\w+|"
    r"getexp\w+|getmant\w+|scalef\w+|range\w+|permw|ps[rl][la]vw|psravw|pabsq|"
    r"p(max|min)[su]q|pmullq|cvt\w*2u\w+|cvtu\w+|cvt\w*2qq|cvtqq2\w+|align[dq]|dbpsadbw|"
    r"psh[lr]dv?[wdq]|permb|pmultishiftqb|popcnt[bwdq]|p4dpwssds?|4fn?madd\w+|"
    r"(broadcast|extract|insert)[if](32x[248]|64x[24])|shuf[if](32x4|64x2)|pbroadcastm\w+|"
    r"fpclass\w+|ptestn?m[bwdq]|dpbf16ps|cvtne2ps2bf16|p2intersect[dq]|pshufbitqmb"
    r")$"
)
_VNNI = re.compile(r"^vpdp(busds?|wssds?)$")
_VNNI_INT = re.compile(r"^vpdp(b[su][su]ds?|w[su][su]ds?)$")
_AMX = re.compile(r"^(ldtilecfg|sttilecfg|tileloaddt?1?|tilestored|tilerelease|tilezero|tdp\w+)$")
_FP16 = re.compile(r"^v\w+(ph|sh)$")
_FMA = re.compile(r"^vf(n)?m(add|sub|addsub|subadd)(132|213|231)(p|s)[sdh]$")
_FMA4 = re.compile(r"^vf(n)?m(add|sub|addsub|subadd)(p|s)[sd]$")
_AVX2_ONLY = re.compile(
    r"^v(pbroadcast[bwdq]|broadcasti128|perm[dq]|permp[sd]|perm2i128|inserti128|"
    r"extracti128|p?gather\w+|pmaskmov[dq]|ps[lr]lv[dq]|psrav[dq]|pblendd)$"
)
_AVX1_YMM_VP = frozenset({"vpermilps", "vpermilpd", "vperm2f128", "vptest"})
_SCALAR = {
    "andn": "bmi1",
    "bextr": "bmi1",
    "blsi": "bmi1",
    "blsmsk": "bmi1",
    "blsr": "bmi1",
    # Not tzcnt: it is encoded as ``rep bsf``, which a CPU without BMI1 runs as bsf, and
    # compilers emit it for generic x86-64 where both give the same result.
    "bzhi": "bmi2",
    "mulx": "bmi2",
    "pdep": "bmi2",
    "pext": "bmi2",
    "rorx": "bmi2",
    "sarx": "bmi2",
    "shlx": "bmi2",
    "shrx": "bmi2",
    "lzcnt": "abm",
    "movbe": "movbe",
    "popcnt": "popcnt",
    "crc32": "sse4_2",
}
_SSE = [
    (re.compile(r"^(haddp[sd]|hsubp[sd]|movddup|movs[hl]dup|lddqu|addsubp[sd])$"), "sse3"),
    (
        re.compile(r"^(pshufb|palignr|ph(add|sub)s?[wd]|pmaddubsw|pmulhrsw|psign[bwd]|pabs[bwd])$"),
        "ssse3",
    ),
    (
        re.compile(
            r"^(pmulld|ptest|pblendvb|pblendw|blendvp[sd]|blendp[sd]|round[ps][sd]|"
            r"p(max|min)(sb|sd|uw|ud)|pmov[sz]x\w+|insertps|extractps|pextr[bdq]|pinsr[bdq]|"
            r"dpp[sd]|mpsadbw|packusdw|pcmpeqq|phminposuw|pmuldq|movntdqa)$"
        ),
        "sse4_1",
    ),
    (re.compile(r"^(pcmpgtq|pcmp[ei]stri|pcmp[ei]strm)$"), "sse4_2"),
]
_PREFIXES = frozenset(
    {
        "lock",
        "rep",
        "repz",
        "repe",
        "repnz",
        "repne",
        "notrack",
        "bnd",
        "data16",
        "addr32",
        "cs",
        "ds",
    }
)


def classify(mnemonic: str, operands: str, *, vex: bool = False, evex: bool = False) -> set[str]:
    """The features one instruction needs (objdump's AT&T text), beyond SSE2.

    ``vex``/``evex``: objdump printed a ``{vex}`` or ``{evex}`` pseudo-prefix before it.
    """
    m = mnemonic.lower()
    found: set[str] = set()
    if _AMX.match(m) or "%tmm" in operands:
        return {"amx_tile"}
    is_evex = evex or bool(_EVEX_REGISTER.search(operands) or _EVEX_DECORATION.search(operands))
    if _VNNI.match(m):
        return {"avx512_vnni"} if is_evex else {"avx_vnni"}
    if _VNNI_INT.match(m):
        return {"avx_vnni_int8"}
    if m.startswith("vpmadd52"):
        return {"avx512ifma"} if is_evex else {"avx_ifma"}
    if m in ("vcvtneps2bf16",) and vex:
        return {"avx_ne_convert"}
    if m.startswith(("vbcstne", "vcvtnee", "vcvtneo")):
        return {"avx_ne_convert"}
    if m.startswith("gf2p8"):
        return {"gfni"}
    if m.startswith("vgf2p8"):
        found.add("gfni")
    if (m.startswith("vaes") or m == "vpclmulqdq") and ("%ymm" in operands or is_evex):
        found.add("vaes" if m.startswith("vaes") else "vpclmulqdq")
    if _FMA4.match(m) or m.startswith(("vfrcz", "vpcmov", "vpperm", "vprot", "vpsha", "vpshl")):
        found.add("fma4")  # AMD's FMA4 / XOP
    if _FP16.match(m) and m not in ("vcvtps2ph",):
        found.add("avx512_fp16")
    if is_evex or _EVEX_ONLY.match(m):
        found.add("avx512f")
    if m.startswith("v") and m not in ("verr", "verw"):
        found.add("avx")
        if _FMA.match(m):
            found.add("fma")
        if m in ("vcvtph2ps", "vcvtps2ph"):
            found.add("f16c")
        if _AVX2_ONLY.match(m) or (
            "%ymm" in operands
            and m.startswith("vp")
            and m not in _AVX1_YMM_VP
            and m != "vpclmulqdq"
        ):
            found.add("avx2")
        base = m[1:]
    else:
        base = m
    if base in _SCALAR:
        found.add(_SCALAR[base])
    for pattern, feature in _SSE:
        if pattern.match(base):
            found.add(feature)
    return found


@dataclass
class Scan:
    """The features found in some machine code, with where each was first seen."""

    instructions: int = 0
    features: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, features: Iterable[str], where: str) -> None:
        for feature in features:
            self.features[feature] = self.features.get(feature, 0) + 1
            examples = self.examples.setdefault(feature, [])
            if len(examples) < 3:
                examples.append(where)

    def merge(self, other: Scan) -> None:
        self.instructions += other.instructions
        for feature, count in other.features.items():
            self.features[feature] = self.features.get(feature, 0) + count
            examples = self.examples.setdefault(feature, [])
            examples.extend(other.examples.get(feature, [])[: 3 - len(examples)])

    def beyond(self, baseline: str) -> dict[str, int]:
        """Features found that a CPU of ``baseline`` may lack, with their counts."""
        allowed = BASELINES[baseline]
        return {f: n for f, n in sorted(self.features.items()) if f not in allowed}

    def report(self, features: Iterable[str]) -> str:
        lines = []
        for feature in features:
            lines.append(f"  {feature}: {self.features.get(feature, 0)} instructions, e.g.")
            lines += [f"    {example}" for example in self.examples.get(feature, [])]
        return "\n".join(lines)


def scan_disassembly(text: str, label: str = "") -> Scan:
    """Classify every instruction of ``objdump -d --no-show-raw-insn`` output."""
    scan = Scan()
    symbol = "?"
    for line in text.splitlines():
        head = _SYMBOL.match(line)
        if head:
            symbol = head["name"]
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        words = match["text"].split("#", 1)[0].split()
        vex = evex = False
        while words and (words[0] in _PREFIXES or words[0].startswith("{")):
            vex = vex or words[0] in ("{vex}", "{vex3}", "{vex2}")
            evex = evex or words[0] == "{evex}"
            words = words[1:]
        if not words or words[0].startswith("("):  # "(bad)"
            continue
        scan.instructions += 1
        mnemonic, operands = words[0], " ".join(words[1:])
        features = classify(mnemonic, operands, vex=vex, evex=evex)
        if features:
            scan.add(features, f"{label}{symbol}: {' '.join(words)}")
    return scan


def objdump() -> str | None:
    """An objdump that reads x86-64 code (binutils' or LLVM's), or None."""
    for name in ("objdump", "llvm-objdump", "gobjdump"):
        path = shutil.which(name)
        if path:
            return path
    return None


def scan_file(path: Path, tool: str) -> Scan:
    out = subprocess.run(
        [tool, "-d", "--no-show-raw-insn", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=True,
    )
    return scan_disassembly(out.stdout, label=f"{path.name} ")


def llama_libraries(bundle: Path) -> list[Path]:
    """The bundle's llama.cpp libraries, one path per distinct file (links skipped)."""
    found: dict[str, Path] = {}
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file() or not path.name.startswith(LIBRARY_PREFIXES):
            continue
        if not re.search(r"\.(so(\.\d+)*|dylib|dll)$", path.name):
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found.setdefault(digest, path)
    return sorted(found.values())


def scan_libraries(libraries: Iterable[Path], tool: str) -> Scan:
    total = Scan()
    for path in libraries:
        total.merge(scan_file(path, tool))
    return total


def baseline_for(features: Iterable[str]) -> str:
    """The smallest documented baseline that covers ``features`` (compile flags)."""
    wanted = set(features)
    for name in ("x86-64-v2", "x86-64-v2+avx", "x86-64-v3"):
        if wanted <= BASELINES[name]:
            return name
    return "x86-64-v3"
