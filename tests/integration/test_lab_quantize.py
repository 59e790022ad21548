"""Quantizing for real: llama.cpp's own quantizer on a tiny random-weight llama model.

The source is written by tests/helpers/tiny_gguf.py (F32, rows of 256: every offered type
applies). Each result must be a file the model library lists with its type, that llama.cpp
loads and generates with (checked here with llama-cpp-python's public API, apart from the
lab's own check). A run that is cancelled, crashes, or meets a full disk must leave nothing
the library lists and no partial file.

Full disks, each saying what is real:
- the kernel's refusal of a write past RLIMIT_FSIZE (EFBIG, as a FAT32 stick or a quota
  would) in the worker process, midway through llama.cpp's writing;
- a real tmpfs of 4 MiB (needs root and mount; skipped where that cannot run): refused
  before anything is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

from llmos_desktop.core.lab.quantize import partial_path, run_quantize
from llmos_desktop.core.lab.types import LabError, LabProgress, QuantizeJob, QuantType
from llmos_desktop.core.lab.worker_client import run_job, worker_command
from llmos_desktop.core.models.gguf.reader import read_gguf_info
from llmos_desktop.core.models.library import ModelLibrary
from tests.helpers.tiny_gguf import write_tiny_llama


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


@pytest.fixture
def source(models: Path) -> Path:
    return write_tiny_llama(models / "tiny-F32.gguf")


def listed(models: Path) -> dict[str, str | None]:
    """What the model library shows: file name -> quantization type."""
    library = ModelLibrary(models, models.parent / "registry.json")
    return {model.path.name: model.quant for model in library.scan()}


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.name.startswith("."))


def generate(path: Path, n: int = 4) -> list[int]:
    """Greedy tokens from llama-cpp-python's public API, independent of the lab's code."""
    with contextlib.redirect_stderr(io.StringIO()):
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_threads=1, verbose=False)
    try:
        tokens = llm.tokenize(b"the cat", add_bos=True)
        picked: list[int] = []
        for token in llm.generate(tokens, top_k=1, temp=0.0):
            picked.append(token)
            if len(picked) == n:
                return picked
        return picked
    finally:
        llm.close()


@pytest.mark.parametrize("qtype", list(QuantType), ids=lambda q: q.value)
def test_every_offered_type_quantizes_loads_and_generates(
    qtype: QuantType, source: Path, models: Path
) -> None:
    """run_quantize is what the worker runs; here in-process, to keep 9 runs quick (the
    worker itself is tested below)."""
    out = models / f"tiny-{qtype.value}.gguf"
    seen: list[LabProgress] = []

    result = run_quantize(QuantizeJob(source, qtype, out, n_threads=1), seen.append)

    assert result.path == out and out.is_file()
    assert result.size_bytes == out.stat().st_size < source.stat().st_size
    assert read_gguf_info(out).file_type == qtype.value
    assert (result.source, result.source_type, result.qtype) == (source, "F32", qtype)
    assert result.verified_tokens == 8
    assert len(generate(out)) == 4
    assert listed(models) == {"tiny-F32.gguf": "F32", out.name: qtype.value}
    assert leftovers(models) == []
    tensors = [p for p in seen if p.stage == "quantizing" and p.detail.startswith("tensor")]
    assert tensors and tensors[-1].detail == "tensor 21/21"
    assert [p.stage for p in seen][-1] == "done"


def test_the_worker_quantizes_with_progress_and_provenance(source: Path, models: Path) -> None:
    import hashlib

    out = models / "tiny-Q4_K_M.gguf"
    seen: list[LabProgress] = []

    result = asyncio.run(run_job(QuantizeJob(source, QuantType.Q4_K_M, out), seen.append))

    assert result.path == out and result.size_bytes == out.stat().st_size
    assert result.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result.seconds > 0 and result.verified_tokens == 8
    stages = [p.stage for p in seen]
    assert stages[0] == "checking" and "quantizing" in stages and "verifying" in stages
    fractions = [p.fraction for p in seen if p.stage == "quantizing" and p.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] > 0.5
    assert listed(models) == {"tiny-F32.gguf": "F32", "tiny-Q4_K_M.gguf": "Q4_K_M"}


def test_requantizing_needs_the_confirmation_then_works(source: Path, models: Path) -> None:
    q8 = run_quantize(QuantizeJob(source, QuantType.Q8_0, models / "t-Q8_0.gguf"), print).path
    again = models / "t-Q4_0.gguf"

    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(QuantizeJob(q8, QuantType.Q4_0, again)))
    assert caught.value.kind == "requantize_refused"
    assert not again.exists()

    result = asyncio.run(run_job(QuantizeJob(q8, QuantType.Q4_0, again, allow_requantize=True)))
    assert result.source_type == "Q8_0" and read_gguf_info(again).file_type == "Q4_0"
    assert len(generate(again)) == 4


def test_a_cancelled_run_leaves_nothing_listed(tmp_path: Path, models: Path) -> None:
    """A model big enough to take seconds; cancelled at its first tensor."""
    big = write_tiny_llama(models / "big-F32.gguf", n_layer=24)
    out = models / "big-IQ3_M.gguf"
    pids: list[int] = []

    async def cancel_midway() -> None:
        tensor = asyncio.Event()

        def on_progress(progress: LabProgress) -> None:
            if progress.detail.startswith("tensor"):
                tensor.set()

        task = asyncio.create_task(
            run_job(QuantizeJob(big, QuantType.IQ3_M, out, n_threads=1), on_progress)
        )
        await asyncio.wait_for(tensor.wait(), 60)
        pids.extend(_children())
        assert partial_path(out).exists()  # llama.cpp is writing
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())

    assert listed(models) == {"big-F32.gguf": "F32"}
    assert leftovers(models) == [] and not out.exists()
    assert pids and not any(_alive(pid) for pid in pids)


def test_a_full_disk_midway_leaves_nothing_listed(source: Path, models: Path) -> None:
    """The kernel refuses writes past 300 kB (RLIMIT_FSIZE) in the worker: llama.cpp's
    write fails partway through the Q8_0 file (~1.4 MB)."""
    limit = 300_000
    command = [
        sys.executable,
        "-c",
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))\n"
        "from llmos_desktop.__main__ import main\n"
        "sys.exit(main(['--lab-worker']))",
    ]
    out = models / "tiny-Q8_0.gguf"
    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(QuantizeJob(source, QuantType.Q8_0, out), command=command))
    assert caught.value.kind == "disk_full", caught.value
    assert listed(models) == {"tiny-F32.gguf": "F32"}
    assert leftovers(models) == [] and not out.exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs (root and mount needed; skipped where that cannot run)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "llmos-lab-test", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def test_a_small_disk_is_refused_before_writing(source: Path, small_disk: Path) -> None:
    out = small_disk / "tiny-Q8_0.gguf"
    with pytest.raises(LabError) as caught:
        asyncio.run(run_job(QuantizeJob(source, QuantType.Q8_0, out)))
    assert caught.value.kind == "disk_full"
    assert "free" in str(caught.value)
    assert list(small_disk.iterdir()) == []


def test_a_worker_that_dies_is_a_one_line_crash(source: Path, models: Path) -> None:
    """A stand-in for llama.cpp aborting: the worker process is killed by a signal."""
    command = [sys.executable, "-c", "import os, sys; sys.stderr.write('boom\\n'); os.abort()"]
    with pytest.raises(LabError) as caught:
        asyncio.run(
            run_job(QuantizeJob(source, QuantType.Q8_0, models / "x.gguf"), command=command)
        )
    assert caught.value.kind == "worker_crashed"
    assert "signal" in str(caught.value) and "boom" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_worker_command_is_this_interpreter_with_the_flag() -> None:
    assert worker_command() == [sys.executable, "-m", "llmos_desktop", "--lab-worker"]


def _children() -> list[int]:
    """This process's lab workers (other children, such as a session's engine, may run)."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--lab-worker" in child.cmdline():
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
