"""Typed, human-readable reasons for engine failures.

llama.cpp reports most load failures only in its log (the Python exception just says
"Failed to load model"), and a dying process only leaves an exit code, so both are
read here and turned into one of a few kinds a person can act on.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from llmos_desktop.core.engine.contract import ErrorKind
from llmos_desktop.core.text import one_line

# (kind, message, substrings in llama.cpp's log that identify it); first match wins.
_LOG_PATTERNS: tuple[tuple[ErrorKind, str, tuple[str, ...]], ...] = (
    (
        ErrorKind.UNSUPPORTED_ARCHITECTURE,
        "this model's architecture is not supported by this version of llama.cpp",
        ("unknown model architecture", "unsupported model architecture"),
    ),
    (
        ErrorKind.OUT_OF_MEMORY,
        "not enough memory to load this model (try a smaller model, quantisation or context)",
        (
            "failed to allocate",
            "out of memory",
            "std::bad_alloc",
            "unable to allocate",
            "cudaMalloc failed",
            "ErrorOutOfDeviceMemory",
            "failed to create context",
        ),
    ),
    (
        ErrorKind.CORRUPT_FILE,
        "the model file is corrupt or incomplete (download it again)",
        (
            "not within the file bounds",
            "failed to read",
            "gguf_init_from_file",
            "invalid magic",
            "tensor data is not",
            "corrupted",
            "wrong number of tensors",
            "unexpectedly reached end of file",
            "failed to load model",
        ),
    ),
)


def classify_log(log_text: str) -> tuple[ErrorKind | None, str]:
    """The kind and a human reason of a failure that llama.cpp's log describes, if any."""
    lowered = log_text.lower()
    for kind, message, needles in _LOG_PATTERNS:
        if any(needle.lower() in lowered for needle in needles):
            return kind, message
    return None, ""


_LLAMA_ERROR = re.compile(r"error loading model: (?:error loading model [^:]*: )?(.+)")


def llama_error_detail(log_text: str) -> str | None:
    """llama.cpp's own reason for a failed load ("key not found in model: ..."), if logged."""
    found = _LLAMA_ERROR.findall(log_text)
    return one_line(found[-1].strip(), limit=200) if found else None


@dataclass(frozen=True)
class EngineFailure:
    """Why the engine process went away, in words a person can act on."""

    kind: ErrorKind
    message: str
    exit_code: int | None = None
    log_tail: str = ""

    def __str__(self) -> str:
        return self.message


def describe_exit(
    exit_code: int | None, log_tail: str, *, requested_stop: bool = False
) -> EngineFailure:
    """Turn a dead engine's exit code and last log lines into an EngineFailure."""
    kind, reason = classify_log(log_tail)
    if exit_code is not None and exit_code < 0:
        sig = -exit_code
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
        if sig == getattr(signal, "SIGKILL", 9) and kind != ErrorKind.OUT_OF_MEMORY:
            return EngineFailure(
                ErrorKind.KILLED,
                "The engine was killed (SIGKILL) — by a user, or by the system when memory ran out.",
                exit_code,
                log_tail,
            )
        if kind is not None:
            return EngineFailure(
                kind, f"The engine stopped: {reason} ({sig_name}).", exit_code, log_tail
            )
        if sig == getattr(signal, "SIGILL", 4):
            # An instruction this CPU lacks (a build tuned for another machine): say so.
            from llmos_desktop.core.cpu import unsupported_cpu_message

            cpu = unsupported_cpu_message()
            if cpu is not None:
                return EngineFailure(
                    ErrorKind.CRASHED,
                    f"The engine crashed ({sig_name}): {cpu}",
                    exit_code,
                    log_tail,
                )
        return EngineFailure(
            ErrorKind.CRASHED, f"The engine crashed ({sig_name}).", exit_code, log_tail
        )
    if kind is not None:
        return EngineFailure(
            kind, f"The engine stopped: {reason} (exit code {exit_code}).", exit_code, log_tail
        )
    if requested_stop and exit_code == 0:
        return EngineFailure(ErrorKind.STOPPED, "The engine was stopped.", exit_code, log_tail)
    return EngineFailure(
        ErrorKind.CRASHED, f"The engine crashed with exit code {exit_code}.", exit_code, log_tail
    )
