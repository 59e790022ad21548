"""Exit codes and llama.cpp log lines become reasons a person can act on."""

from __future__ import annotations

import signal

import pytest

from llmos_desktop.core.engine.errors import classify_log, describe_exit


@pytest.mark.parametrize(
    ("log", "kind"),
    [
        (
            "llama_model_load: error loading model: error loading model architecture: unknown model architecture: 'xyz'",
            "unsupported_architecture",
        ),
        (
            "ggml_backend_cpu_buffer_type_alloc_buffer: failed to allocate buffer of size 9000000000",
            "out_of_memory",
        ),
        ("terminate called after throwing an instance of 'std::bad_alloc'", "out_of_memory"),
        (
            "llama_model_load: error loading model: tensor 'blk.3.attn_q.weight' data is not within the file bounds",
            "corrupt_file",
        ),
        ("all fine here", None),
    ],
)
def test_log_classification(log: str, kind: str | None) -> None:
    assert classify_log(log)[0] == kind


def test_sigkill_is_killed() -> None:
    failure = describe_exit(-signal.SIGKILL, "")
    assert failure.kind == "killed"
    assert "killed" in failure.message.lower()


def test_sigkill_after_allocation_failure_is_out_of_memory() -> None:
    assert describe_exit(-signal.SIGKILL, "failed to allocate buffer").kind == "out_of_memory"


def test_abort_with_architecture_message() -> None:
    failure = describe_exit(-signal.SIGABRT, "unknown model architecture: 'foo'")
    assert failure.kind == "unsupported_architecture"
    assert "SIGABRT" in failure.message


def test_plain_exit_code() -> None:
    failure = describe_exit(3, "")
    assert failure.kind == "crashed"
    assert "exit code 3" in failure.message


def test_an_illegal_instruction_on_a_cpu_the_build_does_not_suit_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmos_desktop import build_info
    from llmos_desktop.core import cpu

    # A portable build that needs AVX2, on a simulated CPU without it.
    built = build_info.BuildInfo(
        variant=build_info.PORTABLE, cpu_baseline="x86-64-v3", cpu_required=("avx", "avx2")
    )
    monkeypatch.setattr(cpu, "read_build_info", lambda: built)
    monkeypatch.setattr(cpu, "running_cpu", lambda: cpu.CpuReport(frozenset({"sse4_2", "avx"})))
    failure = describe_exit(-signal.SIGILL, "")
    assert failure.kind == "crashed"
    assert "SIGILL" in failure.message and "avx2" in failure.message.lower()

    # On a CPU that has everything, an illegal instruction is a plain crash.
    monkeypatch.setattr(cpu, "running_cpu", lambda: cpu.CpuReport(frozenset({"avx", "avx2"})))
    assert describe_exit(-signal.SIGILL, "").message == "The engine crashed (SIGILL)."
