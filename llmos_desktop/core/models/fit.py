"""Will a model run on this computer, and how: the fit advice of the Hub browser and the
"auto" GPU layers of a load.

``machine_memory()`` says what the computer has: RAM (psutil), the memory of an NVIDIA
GPU (``nvidia-smi``, bounded to 2 s) or an AMD one (amdgpu's sysfs files on Linux), and
on Apple Silicon the share of the unified memory that Metal lets the GPU use. Which GPU
backend counts is the engine's: llama.cpp can only use a GPU its build supports, so the
caller passes the backend the engine reported, and without one it is read from the
installed llama.cpp's library files (without importing llama_cpp, which the GUI process
never does).

``advise()`` compares what a model needs with that: the weights (the file size), the f16
KV cache from the GGUF header (core/models/gguf/memory.py: ``kv_cache_bytes_per_token``;
without a header, its rough fallback, and the advice says ``estimated``), llama.cpp's
compute buffer and the runtime allowance. It answers full GPU / partial offload (how
many layers) / CPU only / too large, with the largest context (power-of-two steps up
to the trained context) that the chosen placement still holds.

Not all memory is the model's. The budgets keep back:

- RAM: a quarter of it, at least 1 GiB and at most 6 GiB. The operating system and
  desktop take 1-2 GB when idle (Windows and macOS more than Linux), this app's window
  a few hundred MB, and a user keeps a browser open; beyond 24 GiB of RAM those needs do
  not grow with the machine, so the reserve stops at 6 GiB.
- GPU memory: 512 MiB plus 5% of it. The CUDA (or Vulkan) context and cuBLAS's
  workspace take 300-500 MiB that llama.cpp does not count, the desktop's framebuffers
  live on the same GPU, and allocations fragment.
- Unified memory (Apple Silicon): Metal lets the GPU wire only part of RAM
  (``recommendedMaxWorkingSetSize``): about 2/3 of it up to 36 GiB of RAM and 3/4 above,
  unless ``sysctl iogpu.wired_limit_mb`` raised it. A full-GPU load must fit under that
  limit and under the RAM budget, since the weights live in the same memory.

The budgets come from totals, not from what is free right now: the model this app has
loaded is unloaded before another is loaded, and other programs' memory can be paged
out. The engine's pre-flight check (``check_model_file``) still compares with the free
memory when a file is loaded.

Blocking (a subprocess, sysfs reads): callers run ``machine_memory`` off the GUI thread.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from llmos_desktop.core.models.gguf.memory import (
    RUNTIME_OVERHEAD,
    compute_buffer_bytes,
    fallback_kv_cache_bytes,
    kv_cache_bytes_per_token,
)
from llmos_desktop.core.models.gguf.reader import (
    GGUFInfo,
    _format_bytes,
    _format_sizes,
    _positive_int,
)
from llmos_desktop.core.models.types import FitAdvice, FitKind, MachineMemory, RemoteModel

__all__ = [
    "BEST_MIN_CONTEXT",
    "QUANT_BITS",
    "advise",
    "best_choice",
    "gpu_budget",
    "machine_memory",
    "quality_rank",
    "ram_budget",
    "unified_gpu_limit",
]

_log = logging.getLogger(__name__)

_MIB: Final = 1024 * 1024
_GIB: Final = 1024 * _MIB
Backend = Literal["cpu", "cuda", "metal", "vulkan"]

BEST_MIN_CONTEXT: Final = 4096
"""best_choice wants at least this context: below it a chat soon forgets its beginning."""

# Without a header the compute buffer is not known: a 128k vocabulary's logits for a
# 512-token batch, which is what most current models have.
_FALLBACK_COMPUTE: Final = 256 * _MIB
_SUBPROCESS_TIMEOUT: Final = 2.0

# --- quantization quality ------------------------------------------------------------------
# Bits per weight of each quantization as llama.cpp's quantize tool reports them for a
# whole model (mixes such as Q4_K_M keep some tensors at more bits), keyed by the names
# naming.quant_of gives; "_L"/"_XL" are the uploaders' variants with 8-bit embeddings.
QUANT_BITS: Final[dict[str, float]] = {
    "IQ1_S": 1.56, "TQ1_0": 1.69, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "TQ2_0": 2.06,
    "IQ2_XS": 2.31, "IQ2_S": 2.5, "IQ2_M": 2.7, "Q2_K_S": 2.9, "Q2_K": 3.0, "Q2_K_L": 3.2,
    "Q2_K_XL": 3.3, "IQ3_XXS": 3.06, "IQ3_XS": 3.3, "Q3_K_S": 3.5, "IQ3_S": 3.44,
    "IQ3_M": 3.66, "Q3_K_M": 3.9, "Q3_K": 3.9, "Q3_K_L": 4.27, "Q3_K_XL": 4.4,
    "IQ4_XS": 4.25, "Q4_0": 4.55, "Q4_0_4_4": 4.55, "Q4_0_4_8": 4.55, "Q4_0_8_8": 4.55,
    "IQ4_NL": 4.5, "MXFP4": 4.25, "Q4_1": 5.0, "Q4_K_S": 4.58, "Q4_K_M": 4.85, "Q4_K": 4.85,
    "Q4_K_L": 5.1, "Q4_K_XL": 5.2, "Q5_0": 5.54, "Q5_1": 6.0, "Q5_K_S": 5.54, "Q5_K_M": 5.69,
    "Q5_K": 5.69, "Q5_K_L": 5.9, "Q5_K_XL": 6.0, "Q6_K": 6.56, "Q6_K_L": 6.8, "Q6_K_XL": 6.9,
    "Q8_0": 8.5, "Q8_K_XL": 9.0, "F16": 16.0, "BF16": 16.0, "F32": 32.0,
}  # fmt: skip

# Quality, worst first. Mostly the bits above, except where llama.cpp's measurements
# (perplexity on Llama-3-8B in `llama-quantize --help`) say otherwise: the legacy
# Q4_0/Q4_1/Q5_0/Q5_1 spend more bits than the K-quant of the same size for less
# quality (Q4_1: +0.45 perplexity, Q4_K_M: +0.18), so they rank below it; and F32 ranks
# with F16/BF16, since the published weights are 16-bit and F32 only doubles the size.
_QUALITY_ORDER: Final = (
    ("IQ1_S",), ("TQ1_0",), ("IQ1_M",), ("IQ2_XXS", "TQ2_0"), ("IQ2_XS",), ("IQ2_S",),
    ("IQ2_M",), ("Q2_K_S",), ("Q2_K",), ("Q2_K_L",), ("Q2_K_XL",), ("IQ3_XXS",),
    ("IQ3_XS",), ("Q3_K_S",), ("IQ3_S",), ("IQ3_M",), ("Q3_K_M", "Q3_K"), ("Q3_K_L",),
    ("Q3_K_XL",), ("Q4_0", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8"), ("Q4_1",),
    ("IQ4_XS", "MXFP4"), ("IQ4_NL",), ("Q4_K_S",), ("Q4_K_M", "Q4_K"), ("Q5_0",),
    ("Q4_K_L",), ("Q4_K_XL",), ("Q5_1",), ("Q5_K_S",), ("Q5_K_M", "Q5_K"), ("Q5_K_L",),
    ("Q5_K_XL",), ("Q6_K",), ("Q6_K_L",), ("Q6_K_XL",), ("Q8_0",), ("Q8_K_XL",),
    ("F16", "BF16", "F32"),
)  # fmt: skip
_QUALITY: Final = {name: rank for rank, names in enumerate(_QUALITY_ORDER) for name in names}


def quality_rank(quant: str | None) -> int | None:
    """Where a quantization stands in quality (higher is better); None if unknown."""
    return _QUALITY.get(quant.upper()) if quant else None


# --- the machine ---------------------------------------------------------------------------


def machine_memory(backend: str | None = None) -> MachineMemory:
    """What this computer has for a model (blocking: run it off the GUI thread).

    ``backend`` is what the engine reports ("CPU", "CUDA", "Metal", "Vulkan", ...; any
    case). None: the installed llama.cpp's build decides (its library files), and Apple
    Silicon counts as Metal. A backend the types do not know (ROCm, SYCL) counts as CPU.
    """
    import psutil

    vm = psutil.virtual_memory()
    ram_total, ram_available = int(vm.total), int(vm.available)
    kind = _backend(backend)
    apple = _is_apple_silicon()
    if kind == "metal" and apple:
        return MachineMemory(
            ram_total=ram_total,
            ram_available=ram_available,
            backend="metal",
            vram_total=_metal_limit(ram_total),
            vram_free=None,
            unified=True,
        )
    vram: tuple[int, int] | None = None
    if kind in ("cuda", "vulkan"):
        vram = _nvidia_memory()
        if vram is None and kind == "vulkan":
            vram = _amdgpu_memory()
    return MachineMemory(
        ram_total=ram_total,
        ram_available=ram_available,
        backend=kind,
        vram_total=vram[0] if vram else None,
        vram_free=vram[1] if vram else None,
        unified=False,
    )


_BACKENDS: Final[dict[str, Backend]] = {"cuda": "cuda", "metal": "metal", "vulkan": "vulkan"}


def _backend(reported: str | None) -> Backend:
    name = (reported or _installed_backend() or "").strip().lower()
    return _BACKENDS.get(name, "cpu")


def _installed_backend() -> str | None:
    """The GPU backend the installed llama.cpp was built with, from its library files."""
    try:
        spec = importlib.util.find_spec("llama_cpp")  # finds the package; imports nothing
    except (ImportError, ValueError):
        spec = None
    names: list[str] = []
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            lib = Path(folder) / "lib"
            try:
                names += [entry.name.lower() for entry in os.scandir(lib)]
            except OSError:
                continue
    for backend in ("cuda", "metal", "vulkan"):
        if any(f"ggml-{backend}" in name for name in names):
            return backend
    # The macOS arm64 wheels build Metal into libggml itself on some versions.
    return "metal" if _is_apple_silicon() else None


def _is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def unified_gpu_limit(ram_total: int) -> int:
    """How much of the unified memory Metal lets the GPU use by default: about 2/3 of
    the RAM up to 36 GiB and 3/4 above (Metal's recommendedMaxWorkingSetSize)."""
    return ram_total * 3 // 4 if ram_total > 36 * _GIB else ram_total * 2 // 3


def _metal_limit(ram_total: int) -> int:
    wired = _run(["sysctl", "-n", "iogpu.wired_limit_mb"])
    try:
        limit = int(wired.strip()) * _MIB if wired else 0
    except ValueError:
        limit = 0
    return min(limit, ram_total) if limit > 0 else unified_gpu_limit(ram_total)


def _nvidia_memory() -> tuple[int, int] | None:
    """(total, free) bytes over all NVIDIA GPUs (llama.cpp splits layers over them)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    out = _run([exe, "--query-gpu=memory.total,memory.free", "--format=csv,noheader,nounits"])
    return _parse_nvidia_smi(out) if out else None


def _parse_nvidia_smi(text: str) -> tuple[int, int] | None:
    """Sum "total, free" lines in MiB; None if any line is not two numbers."""
    total = free = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            return None
        total += int(parts[0]) * _MIB
        free += int(parts[1]) * _MIB
    return (total, min(free, total)) if total > 0 else None


def _amdgpu_memory(root: Path = Path("/sys/class/drm")) -> tuple[int, int] | None:
    """(total, free) bytes of AMD GPUs from amdgpu's sysfs files (Linux only)."""
    total = used = 0
    try:
        cards = sorted(root.glob("card[0-9]*/device/mem_info_vram_total"))
    except OSError:
        return None
    for card in cards:
        try:
            card_total = int(card.read_text().strip())
            card_used = int((card.parent / "mem_info_vram_used").read_text().strip())
        except (OSError, ValueError):
            continue
        total += card_total
        used += min(card_used, card_total)
    return (total, total - used) if total > 0 else None


def _run(command: list[str]) -> str | None:
    """A small command's stdout, or None when it fails or takes over 2 s."""
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console flashing up on Windows
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=_SUBPROCESS_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            creationflags=flags,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        _log.info("could not run %s", command[0], exc_info=True)
        return None
    if done.returncode != 0:
        _log.info("%s exited with %s", command[0], done.returncode)
        return None
    return done.stdout


# --- budgets -------------------------------------------------------------------------------


def ram_budget(machine: MachineMemory) -> int:
    """RAM a model may use: the total less the reserve for the system (see above)."""
    reserve = min(max(machine.ram_total // 4, 1 * _GIB), 6 * _GIB)
    return max(0, machine.ram_total - reserve)


def gpu_budget(machine: MachineMemory) -> int | None:
    """GPU memory a model may use; None when the GPU cannot be used or its size is unknown."""
    if machine.backend == "cpu":
        return None
    if machine.unified:
        limit = machine.vram_total or unified_gpu_limit(machine.ram_total)
        return min(limit, ram_budget(machine))
    if not machine.vram_total:
        return None
    reserve = 512 * _MIB + machine.vram_total // 20
    return max(0, machine.vram_total - reserve)


# --- the advice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Need:
    """What a model needs, in parts, for any context."""

    weights: int
    kv_per_token: int | None
    info: GGUFInfo | None
    n_layer: int | None  # repeating layers; llama.cpp offloads n_layer + 1 (the output)
    trained: int | None

    def kv(self, ctx: int) -> int:
        if self.kv_per_token is not None:
            return self.kv_per_token * ctx
        return fallback_kv_cache_bytes(self.weights, ctx)

    def compute(self, ctx: int) -> int:
        found = compute_buffer_bytes(self.info, ctx) if self.info is not None else None
        return _FALLBACK_COMPUTE if found is None else found

    def total(self, ctx: int) -> int:
        return self.weights + self.kv(ctx) + self.compute(ctx) + RUNTIME_OVERHEAD

    def gpu_layers(self, ctx: int, budget: int) -> int:
        """Repeating layers whose weights and KV cache fit in ``budget`` beside the
        compute buffer; the output layer is counted as one more layer of weights."""
        assert self.n_layer is not None
        per_layer = self.weights // (self.n_layer + 1) + self.kv(ctx) // self.n_layer
        room = budget - self.compute(ctx) - RUNTIME_OVERHEAD
        if room <= 0 or per_layer <= 0:
            return 0
        return min(self.n_layer, room // per_layer)

    def partial_ram(self, ctx: int, layers: int) -> int:
        """RAM for what stays on the CPU when ``layers`` go to the GPU."""
        assert self.n_layer is not None
        on_gpu = self.weights * layers // (self.n_layer + 1)
        kv_gpu = self.kv(ctx) * layers // self.n_layer
        return self.total(ctx) - on_gpu - kv_gpu


def advise(
    size: int,
    machine: MachineMemory,
    *,
    info: GGUFInfo | None = None,
    context: int = 4096,
    n_layers: int | None = None,
) -> FitAdvice:
    """Whether a model of ``size`` bytes runs here, and how.

    ``info``: its GGUF header (local, or read from the Hub with remote_gguf), for the KV
    cache, the layer count and the trained context; without it the advice is
    ``estimated`` from the size alone. ``context``: the smallest context the advice must
    allow (capped at the trained context; <= 0: the trained context). ``n_layers``
    overrides the header's block count.

    Tried in order: full GPU, partial offload, CPU only. The first that holds
    ``context`` wins; full GPU and CPU only then report the largest context they hold
    (powers of two up to the trained context), partial offload the layers that fit at
    ``context``. Partial offload needs the layer count: without a header or
    ``n_layers`` it reports ``gpu_layers=0``, meaning unknown, with the share in detail.
    """
    if size < 0:
        raise ValueError(f"a model size of {size} bytes")
    arch = info.architecture if info is not None else None
    block_count = _positive_int(info.metadata.get(f"{arch}.block_count")) if info and arch else None
    need = _Need(
        weights=size,
        kv_per_token=kv_cache_bytes_per_token(info) if info is not None else None,
        info=info,
        n_layer=n_layers if n_layers and n_layers > 0 else block_count,
        trained=info.context_length if info is not None else None,
    )
    estimated = info is None or need.kv_per_token is None
    contexts = _contexts(context, need.trained)
    start = contexts[0]
    ram = ram_budget(machine)
    gpu = gpu_budget(machine)

    def advice(kind: FitKind, ctx: int, layers: int, detail: str) -> FitAdvice:
        return FitAdvice(
            kind=kind,
            needed_bytes=need.total(ctx),
            context=ctx,
            gpu_layers=layers,
            detail=detail,
            estimated=estimated,
        )

    if gpu is not None and need.total(start) <= gpu:
        ctx = _largest(contexts, lambda c: need.total(c) <= gpu)
        where = "unified memory" if machine.unified else "GPU memory"
        return advice(
            "full_gpu",
            ctx,
            -1,
            f"full GPU: needs {_format_bytes(need.total(ctx))} of "
            f"{_format_bytes(gpu)} {where} usable at {ctx:,} tokens",
        )
    # Partial offload: on a discrete GPU the rest must fit in RAM; with unified memory
    # the whole model is in RAM anyway and the GPU works on part of it.
    if gpu is not None and need.total(start) <= ram + gpu:
        if need.n_layer is not None:
            layers = need.gpu_layers(start, gpu)
            rest = need.total(start) if machine.unified else need.partial_ram(start, layers)
            if layers > 0 and rest <= ram:
                return advice(
                    "partial_gpu",
                    start,
                    layers,
                    f"partial offload: {layers} of {need.n_layer + 1} layers on the GPU "
                    f"at {start:,} tokens, the rest in RAM",
                )
        else:
            share = (gpu - need.compute(start) - RUNTIME_OVERHEAD) / max(
                1, need.weights + need.kv(start)
            )
            in_ram = need.total(start) * (1.0 if machine.unified else 1.0 - min(share, 1.0))
            if share > 0 and in_ram <= ram:
                return advice(
                    "partial_gpu",
                    start,
                    0,
                    f"partial offload: about {min(share, 1):.0%} of the model on the GPU "
                    f"at {start:,} tokens (layer count unknown until the header is read)",
                )
    if need.total(start) <= ram:
        ctx = _largest(contexts, lambda c: need.total(c) <= ram)
        why = "" if gpu is not None or machine.backend == "cpu" else " (GPU memory unknown)"
        return advice(
            "cpu_only",
            ctx,
            0,
            f"CPU only{why}: needs {_format_bytes(need.total(ctx))} of "
            f"{_format_bytes(ram)} RAM usable at {ctx:,} tokens",
        )
    needed, usable = _format_sizes(need.total(start), ram)  # exact bytes if they read alike
    room = usable + " RAM" + (f" + {_format_bytes(gpu)} GPU" if gpu else "")
    return advice(
        "too_large",
        start,
        0,
        f"too large: needs {needed} at {start:,} tokens; {room} usable for models",
    )


def _contexts(wanted: int, trained: int | None) -> list[int]:
    """The contexts to try, smallest first: ``wanted`` (capped at ``trained``), then powers
    of two above it, then ``trained`` itself; only ``wanted`` when ``trained`` is unknown."""
    if wanted <= 0:
        wanted = trained or 4096
    if trained is None:
        return [wanted]
    start = min(wanted, trained)
    found = [start]
    step = 1 << start.bit_length()  # the next power of two above start
    while step < trained:
        found.append(step)
        step <<= 1
    if trained > start:
        found.append(trained)
    return found


def _largest(contexts: Sequence[int], fits: Callable[[int], bool]) -> int:
    best = contexts[0]
    for ctx in contexts[1:]:
        if not fits(ctx):
            break
        best = ctx
    return best


# --- the best quantization -------------------------------------------------------------------


def best_choice(models: Sequence[RemoteModel], advices: Sequence[FitAdvice]) -> int | None:
    """The index of the best quantization for this machine, or None.

    The highest quality (``quality_rank``) among the models that fit fully on the GPU
    with at least BEST_MIN_CONTEXT tokens; if none does, among those that run at all
    with that context (partial offload or CPU). Ties go to the smaller file, then to the
    earlier one. Vision projectors (mmproj) are never chosen; a file whose name gives no
    quantization ranks below every named one.
    """
    if len(models) != len(advices):
        raise ValueError(f"{len(models)} models but {len(advices)} pieces of advice")
    tiers: tuple[tuple[FitKind, ...], ...] = (("full_gpu",), ("partial_gpu", "cpu_only"))
    for kinds in tiers:
        candidates = [
            i
            for i, (model, advice) in enumerate(zip(models, advices, strict=True))
            if not model.is_mmproj and advice.kind in kinds and advice.context >= BEST_MIN_CONTEXT
        ]
        if candidates:
            return max(candidates, key=lambda i: _preference(models[i], i))
    return None


def _preference(model: RemoteModel, index: int) -> tuple[int, int, int]:
    rank = quality_rank(model.quant)
    size = model.size
    return (
        -1 if rank is None else rank,
        -(size if size is not None else 1 << 62),
        -index,
    )
