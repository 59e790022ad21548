"""Fit advice: will a model run here, where, and with how much context.

Machines are synthetic ``MachineMemory`` values (this test machine has no GPU); models are
a 7B-like header written by tests/helpers/gguf_factory.py and the two real test models.
``machine_memory`` runs for real; its ``nvidia-smi`` is a small fake script on PATH,
because no NVIDIA GPU is here (the only stand-in in this file).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from llmos_desktop.core.models import fit
from llmos_desktop.core.models.fit import (
    advise,
    best_choice,
    gpu_budget,
    machine_memory,
    quality_rank,
    ram_budget,
    unified_gpu_limit,
)
from llmos_desktop.core.models.gguf import GGUFInfo, read_gguf_info
from llmos_desktop.core.models.gguf.memory import (
    RUNTIME_OVERHEAD,
    compute_buffer_bytes,
    kv_cache_bytes_per_token,
)
from llmos_desktop.core.models.naming import quant_of
from llmos_desktop.core.models.types import FitAdvice, MachineMemory, RemoteFile, RemoteModel
from tests.helpers.gguf_factory import write_gguf

GIB = 1024**3
MIB = 1024**2
GB = 1000**3


def cpu(ram_gib: float) -> MachineMemory:
    return MachineMemory(ram_total=int(ram_gib * GIB), ram_available=int(ram_gib * GIB) // 2)


def cuda(vram_gib: float, ram_gib: float = 16) -> MachineMemory:
    vram = int(vram_gib * GIB)
    return MachineMemory(
        ram_total=int(ram_gib * GIB),
        ram_available=int(ram_gib * GIB) // 2,
        backend="cuda",
        vram_total=vram,
        vram_free=vram - 300 * MIB,
    )


def mac(ram_gib: float) -> MachineMemory:
    ram = int(ram_gib * GIB)
    return MachineMemory(
        ram_total=ram,
        ram_available=ram // 2,
        backend="metal",
        vram_total=unified_gpu_limit(ram),
        unified=True,
    )


@pytest.fixture(scope="module")
def seven_b(tmp_path_factory: pytest.TempPathFactory) -> GGUFInfo:
    """The header of a Mistral-7B-like model: 32 layers, 32 heads, 8 KV heads of 128,
    32k trained context: 128 KiB of f16 KV cache per token."""
    path = write_gguf(
        tmp_path_factory.mktemp("fit") / "seven-b-Q4_K_M.gguf",
        context_length=32768,
        extra_kv={
            "llama.block_count": 32,
            "llama.embedding_length": 4096,
            "llama.attention.head_count": 32,
            "llama.attention.head_count_kv": 8,
        },
    )
    info = read_gguf_info(path)
    assert kv_cache_bytes_per_token(info) == 128 * 1024
    return info


# --- the user's questions ------------------------------------------------------------------


def test_a_4gb_model_on_an_8gb_cpu_machine_runs_on_the_cpu(seven_b: GGUFInfo) -> None:
    advice = advise(4 * GB, cpu(8), info=seven_b)
    assert advice.kind == "cpu_only" and advice.gpu_layers == 0 and not advice.estimated
    assert 4096 <= advice.context < 32768  # more than the minimum, less than trained
    assert advice.needed_bytes <= ram_budget(cpu(8)) <= 8 * GIB - 2 * GIB
    # It is the largest power of two that fits: twice as much would not.
    assert advise(4 * GB, cpu(8), info=seven_b, context=2 * advice.context).kind == "too_large"
    assert "CPU only" in advice.detail and f"{advice.context:,} tokens" in advice.detail


def test_a_4gb_model_is_too_large_for_a_2gb_machine(seven_b: GGUFInfo) -> None:
    advice = advise(4 * GB, cpu(2), info=seven_b)
    assert advice.kind == "too_large" and advice.needed_bytes > 4 * GB
    assert advice.context == 4096 and "too large" in advice.detail


def test_a_4gb_model_fills_a_24gb_gpu_with_its_whole_trained_context(seven_b: GGUFInfo) -> None:
    advice = advise(4 * GB, cuda(24), info=seven_b)
    assert advice.kind == "full_gpu" and advice.gpu_layers == -1
    assert advice.context == 32768  # the trained context, never more
    assert advise(4 * GB, cuda(24), info=seven_b, context=1 << 20).context == 32768
    budget = gpu_budget(cuda(24))
    assert budget is not None and advice.needed_bytes <= budget


def test_a_3gb_gpu_takes_about_half_the_layers(seven_b: GGUFInfo) -> None:
    advice = advise(4 * GB, cuda(3), info=seven_b)
    assert advice.kind == "partial_gpu" and advice.context == 4096
    assert 10 <= advice.gpu_layers <= 20  # of 33 (32 blocks + the output layer)
    assert "of 33 layers" in advice.detail
    # More GPU memory, more layers; less, fewer; none that fit: the CPU.
    layers = [advise(4 * GB, cuda(v), info=seven_b).gpu_layers for v in (2.5, 3, 4, 5)]
    assert layers == sorted(layers) and len(set(layers)) == 4
    assert advise(4 * GB, cuda(0.75), info=seven_b).kind == "cpu_only"
    # A partial offload still needs the rest in RAM.
    assert advise(4 * GB, cuda(3, ram_gib=3), info=seven_b).kind == "too_large"


def test_partial_offload_layers_fit_the_gpu_budget(seven_b: GGUFInfo) -> None:
    machine = cuda(3)
    layers = advise(4 * GB, machine, info=seven_b).gpu_layers
    budget = gpu_budget(machine)
    assert budget is not None
    per_layer = 4 * GB // 33 + 128 * 1024 * 4096 // 32  # weights and KV of one layer
    fixed = (compute_buffer_bytes(seven_b, 4096) or 0) + 128 * MIB
    assert fixed + layers * per_layer <= budget < fixed + (layers + 1) * per_layer


def test_apple_silicon_gpu_gets_two_thirds_of_small_and_three_quarters_of_large_ram(
    seven_b: GGUFInfo,
) -> None:
    assert unified_gpu_limit(16 * GIB) == 16 * GIB * 2 // 3
    assert unified_gpu_limit(64 * GIB) == 48 * GIB
    # 8 GB Mac: the Metal limit (5.3 GiB) is below the RAM budget (6 GiB), so it rules.
    assert gpu_budget(mac(8)) == 8 * GIB * 2 // 3 < ram_budget(mac(8))
    # 32 GB Mac: the RAM budget (26 GiB) is above the Metal limit (21.3 GiB).
    assert gpu_budget(mac(32)) == unified_gpu_limit(32 * GIB)
    # An 11 GB model: over a 16 GB Mac's Metal limit, so partly on the GPU, all in RAM.
    on_16 = advise(11 * GB, mac(16), info=seven_b)
    assert on_16.kind == "partial_gpu" and 0 < on_16.gpu_layers < 33
    assert "unified" not in on_16.detail
    on_64 = advise(11 * GB, mac(64), info=seven_b)
    assert on_64.kind == "full_gpu" and "unified memory" in on_64.detail
    # A 4 GB model on an 8 GB Mac fits its GPU share fully.
    assert advise(4 * GB, mac(8), info=seven_b).kind == "full_gpu"


def test_headroom_is_left_for_the_system() -> None:
    assert ram_budget(cpu(2)) == 1 * GIB  # at least 1 GiB kept back
    assert ram_budget(cpu(8)) == 6 * GIB  # a quarter
    assert ram_budget(cpu(64)) == 58 * GIB  # at most 6 GiB
    budget = gpu_budget(cuda(24))
    assert budget is not None and 22 * GIB < budget < 23 * GIB  # 512 MiB + 5%
    assert gpu_budget(cpu(8)) is None
    unknown = MachineMemory(ram_total=16 * GIB, ram_available=GIB, backend="vulkan")
    assert gpu_budget(unknown) is None
    advice = advise(4 * GB, unknown)
    assert advice.kind == "cpu_only" and "GPU memory unknown" in advice.detail


def test_without_a_header_the_advice_is_an_estimate(seven_b: GGUFInfo) -> None:
    guess = advise(4 * GB, cpu(8))
    exact = advise(4 * GB, cpu(8), info=seven_b)
    assert guess.estimated and not exact.estimated
    assert guess.context == 4096  # no trained context to grow towards
    # Without the header it is a fair guess: within 15% of the header's needs at 4,096.
    kv, compute = kv_cache_bytes_per_token(seven_b), compute_buffer_bytes(seven_b, 4096)
    assert kv is not None and compute is not None
    header_based = 4 * GB + kv * 4096 + compute + RUNTIME_OVERHEAD
    assert guess.needed_bytes == pytest.approx(header_based, rel=0.15)
    # Partial offload without a layer count: the share, and 0 layers meaning unknown.
    partial = advise(4 * GB, cuda(3))
    assert partial.kind == "partial_gpu" and partial.gpu_layers == 0
    assert "layer count unknown" in partial.detail
    # n_layers alone is enough for a layer count.
    assert advise(4 * GB, cuda(3), n_layers=32).gpu_layers > 0


def test_context_never_exceeds_the_trained_one(tmp_path: Path) -> None:
    info = read_gguf_info(write_gguf(tmp_path / "short.gguf", tensors=3, context_length=2048))
    advice = advise(100 * MIB, cpu(16), info=info)
    assert advice.kind == "cpu_only" and advice.context == 2048
    assert advise(100 * MIB, cpu(16), info=info, context=0).context == 2048
    with pytest.raises(ValueError):
        advise(-1, cpu(16))


# --- the real test models --------------------------------------------------------------------


@pytest.mark.model
def test_gemma_270m_runs_anywhere_with_its_whole_context(model_path: Path) -> None:
    info = read_gguf_info(model_path)
    size = model_path.stat().st_size
    on_laptop = advise(size, cpu(8), info=info)
    assert on_laptop.kind == "cpu_only" and on_laptop.context == 32768
    assert advise(size, cuda(4), info=info).kind == "full_gpu"
    # 1.5 GiB of GPU memory holds some of its 19 layers.
    partial = advise(size, cuda(1.5), info=info)
    assert partial.kind == "partial_gpu" and 0 < partial.gpu_layers < 19
    assert advise(size, cpu(1), info=info).kind == "too_large"


@pytest.mark.model
def test_the_starter_fits_a_4gb_machine_with_its_8k_context(chat_model_path: Path) -> None:
    info = read_gguf_info(chat_model_path)
    advice = advise(chat_model_path.stat().st_size, cpu(4), info=info)
    assert advice.kind == "cpu_only" and advice.context == 8192 and not advice.estimated


_LOAD = textwrap.dedent(
    """
    import sys, llama_cpp
    llama_cpp.Llama(sys.argv[1], n_ctx=int(sys.argv[2]), n_batch=512, n_threads=1,
                    swa_full=True, verbose=True)
    """
)


def _llama_buffers(path: Path, n_ctx: int) -> tuple[float, float]:
    """(KV cache, compute buffer) in MiB, from llama.cpp's own log of a real load."""
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, str(path), str(n_ctx)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    kv = compute = 0.0
    for line in done.stderr.splitlines():
        if "KV buffer size" in line:
            kv += float(line.split("=")[1].split()[0])
        elif "compute buffer size =" in line:
            compute += float(line.split("=")[1].split()[0])
    return kv, compute


@pytest.mark.model
@pytest.mark.slow
def test_kv_and_compute_estimates_match_llama_cpp(model_path: Path, chat_model_path: Path) -> None:
    """The KV cache is exact (the engine keeps the whole sliding-window cache), the compute
    buffer errs high by at most a quarter."""
    for path, n_ctx in ((model_path, 4096), (chat_model_path, 2048), (chat_model_path, 8192)):
        info = read_gguf_info(path)
        kv, compute = _llama_buffers(path, n_ctx)
        per_token = kv_cache_bytes_per_token(info)
        estimate = compute_buffer_bytes(info, n_ctx)
        assert per_token is not None and estimate is not None
        assert per_token * n_ctx / MIB == pytest.approx(kv), path.name
        assert compute <= estimate / MIB <= compute * 1.25, (path.name, n_ctx, compute)


# --- the best quantization -----------------------------------------------------------------


def _models(sizes: dict[str, float], repo: str = "bartowski/Seven-GGUF") -> list[RemoteModel]:
    models = []
    for name, size_gb in sizes.items():
        file = RemoteFile(repo, name, size=int(size_gb * GB), sha256=None)
        models.append(
            RemoteModel(
                repo,
                name.removesuffix(".gguf"),
                quant_of(name),
                (file,),
                is_mmproj="mmproj" in name,
            )
        )
    return models


SEVEN_B = {
    "Seven-Q2_K.gguf": 2.7,
    "Seven-Q4_K_M.gguf": 4.4,
    "Seven-Q5_K_M.gguf": 5.1,
    "Seven-Q6_K.gguf": 5.9,
    "Seven-Q8_0.gguf": 7.7,
    "Seven-F16.gguf": 14.5,
    "mmproj-Seven-F16.gguf": 0.3,
}


def _advices(models: list[RemoteModel], machine: MachineMemory, info: GGUFInfo) -> list[FitAdvice]:
    # A projector's header is not the model's: its advice comes from its size alone.
    return [advise(m.size or 0, machine, info=None if m.is_mmproj else info) for m in models]


def test_best_choice_is_the_best_quant_that_fits_the_gpu_fully(seven_b: GGUFInfo) -> None:
    models = _models(SEVEN_B)
    on_8gb_gpu = _advices(models, cuda(8), seven_b)
    best = best_choice(models, on_8gb_gpu)
    assert best is not None and models[best].quant == "Q6_K"
    assert on_8gb_gpu[best].kind == "full_gpu"
    assert on_8gb_gpu[[m.quant for m in models].index("Q8_0")].kind != "full_gpu"
    # A 24 GB GPU holds Q8_0 and F16 fully: F16 is the best there.
    best = best_choice(models, _advices(models, cuda(24), seven_b))
    assert best is not None and models[best].quant == "F16"


def test_best_choice_falls_back_to_cpu_and_never_picks_a_projector(seven_b: GGUFInfo) -> None:
    models = _models(SEVEN_B)
    # No GPU, 8 GB: the best that runs from RAM with 4,096 tokens.
    best = best_choice(models, _advices(models, cpu(8), seven_b))
    assert best is not None and models[best].quant == "Q5_K_M"
    # 2 GB: nothing runs but the projector, which is never a choice.
    advices = _advices(models, cpu(2), seven_b)
    assert advices[-1].kind == "cpu_only" and best_choice(models, advices) is None
    with pytest.raises(ValueError):
        best_choice(models, advices[:-1])


def test_best_choice_ranks_quality_not_bits(seven_b: GGUFInfo) -> None:
    # Q4_1 spends more bits than Q4_K_M for less quality; F32 doubles F16 for nothing.
    models = _models(
        {"m-Q4_1.gguf": 4.6, "m-Q4_K_M.gguf": 4.4, "m-F32.gguf": 1.0, "m-F16.gguf": 0.5}
    )
    advices = _advices(models, cuda(24), seven_b)
    assert models[best_choice(models, advices) or 0].quant == "F16"
    assert best_choice(models[:2], advices[:2]) == 1
    ranks = [quality_rank(q) or 0 for q in ("IQ2_XS", "Q3_K_M", "Q4_0", "IQ4_XS", "Q4_K_M", "Q6_K")]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert (quality_rank("Q4_1") or 0) < (quality_rank("Q4_K_M") or 0)
    assert quality_rank(None) is None and quality_rank("NOT_A_QUANT") is None


def test_every_quant_the_names_know_has_bits_and_a_rank() -> None:
    from llmos_desktop.core.models import naming

    assert set(fit.QUANT_BITS) == set(fit._QUALITY)
    for quant in naming._QUANTS:
        name = {"FP16": "F16", "FP32": "F32"}.get(quant, quant)
        assert name in fit.QUANT_BITS and quality_rank(name) is not None, quant


# --- this machine --------------------------------------------------------------------------


def test_machine_memory_reads_this_machine() -> None:
    found = machine_memory()
    assert found.ram_total == psutil.virtual_memory().total
    assert 0 < found.ram_available <= found.ram_total
    # This machine's llama.cpp is a CPU build and it has no nvidia-smi: no GPU counts.
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin is not None
    lib = Path(spec.origin).parent / "lib"
    assert not any("cuda" in p.name or "vulkan" in p.name for p in lib.iterdir())
    assert found.backend == "cpu" and found.vram_total is None and not found.unified
    # The engine's word wins, in any case; one the types do not know counts as CPU.
    assert machine_memory("ROCm").backend == "cpu"


def _fake_nvidia_smi(folder: Path, body: str) -> None:
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for nvidia-smi")
def test_machine_memory_sums_nvidia_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_nvidia_smi(tmp_path, 'echo "24564, 23000"\necho "8192, 8000"')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    found = machine_memory("CUDA")
    assert found.backend == "cuda"
    assert found.vram_total == (24564 + 8192) * MIB and found.vram_free == (23000 + 8000) * MIB
    assert advise(4 * GB, found).kind == "full_gpu"
    # The engine runs on the CPU: the GPU does not count.
    assert machine_memory("CPU").vram_total is None


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for nvidia-smi")
def test_a_hanging_or_odd_nvidia_smi_is_ignored_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    _fake_nvidia_smi(tmp_path, "exec sleep 30")
    started = time.monotonic()
    found = machine_memory("cuda")
    assert time.monotonic() - started < 5
    assert found.vram_total is None and advise(4 * GB, found).kind == "cpu_only"
    _fake_nvidia_smi(tmp_path, 'echo "No devices were found"')
    assert machine_memory("cuda").vram_total is None
    _fake_nvidia_smi(tmp_path, "exit 9")
    assert machine_memory("cuda").vram_total is None


def test_amdgpu_memory_from_sysfs(tmp_path: Path) -> None:
    for card, total, used in (("card0", 16 * GIB, 2 * GIB), ("card1", 8 * GIB, GIB)):
        device = tmp_path / card / "device"
        device.mkdir(parents=True)
        (device / "mem_info_vram_total").write_text(f"{total}\n")
        (device / "mem_info_vram_used").write_text(f"{used}\n")
    (tmp_path / "card2-HDMI-A-1").mkdir()  # a connector, not a card
    assert fit._amdgpu_memory(tmp_path) == (24 * GIB, 21 * GIB)
    assert fit._amdgpu_memory(tmp_path / "none") is None
