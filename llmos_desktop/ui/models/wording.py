"""How the Models pane words numbers and states: sizes, counts, dates, fit advice, errors.

One place for the words, so the library, the Hub browser, the repository page and the
downloads say "1.2 GB" and "Too large for this computer" the same way. Every string goes
through ``QCoreApplication.translate`` with the context ``ModelsWording`` spelled out in
each call (these are functions, not widgets, so they have no ``self.tr``; and
pyside6-lupdate finds a context only when it is written in the call).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from PySide6.QtCore import QCoreApplication, QDate, QLocale

from llmos_desktop.core.models.types import (
    DownloadProgress,
    FitAdvice,
    GatedKind,
    ModelsError,
)

CONTEXT = "ModelsWording"


def size_text(size: int | None) -> str:
    """A file size in decimal units, as file managers show them: "1.2 GB", "640 MB"."""
    if size is None:
        return QCoreApplication.translate("ModelsWording", "unknown size")
    if size < 1000:
        return QCoreApplication.translate("ModelsWording", "{n} B").format(n=size)
    units = (
        QCoreApplication.translate("ModelsWording", "{n} KB"),
        QCoreApplication.translate("ModelsWording", "{n} MB"),
        QCoreApplication.translate("ModelsWording", "{n} GB"),
        QCoreApplication.translate("ModelsWording", "{n} TB"),
    )
    value = float(size)
    for unit in units:
        value /= 1000
        if value < 999.5 or unit is units[-1]:
            return unit.format(n=f"{value:.1f}" if value < 100 else f"{value:.0f}")
    raise AssertionError("unreachable")


def count_text(count: int) -> str:
    """A download or like count, short: 950, 12.3K, 4.5M."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return QCoreApplication.translate("ModelsWording", "{n}K").format(n=_trim(count / 1e3))
    if count < 1_000_000_000:
        return QCoreApplication.translate("ModelsWording", "{n}M").format(n=_trim(count / 1e6))
    return QCoreApplication.translate("ModelsWording", "{n}B").format(n=_trim(count / 1e9))


def parameters_text(parameters: int | None) -> str:
    """A parameter count as model names write it: 135M, 1.2B."""
    if not parameters:
        return ""
    if parameters >= 1e9:
        return QCoreApplication.translate("ModelsWording", "{n}B").format(n=_trim(parameters / 1e9))
    if parameters >= 1e6:
        return QCoreApplication.translate("ModelsWording", "{n}M").format(n=_trim(parameters / 1e6))
    return QCoreApplication.translate("ModelsWording", "{n}K").format(n=_trim(parameters / 1e3))


def _trim(value: float) -> str:
    """One decimal below 100 ("1.2", not "1.0"), none above."""
    text = f"{value:.1f}" if value < 99.95 else f"{value:.0f}"
    return text.removesuffix(".0")


def tokens_text(tokens: int | None) -> str:
    """A context length: "4,096 tokens", or "" when unknown."""
    if not tokens:
        return ""
    return QCoreApplication.translate("ModelsWording", "{n} tokens").format(n=f"{tokens:,}")


def date_text(when: datetime | None) -> str:
    """A date in the locale's short format; "" when unknown."""
    if when is None:
        return ""
    local = when.astimezone() if when.tzinfo is not None else when.replace(tzinfo=UTC)
    day = QDate(local.year, local.month, local.day)
    return str(QLocale().toString(day, QLocale.FormatType.ShortFormat))


def gated_text(gated: GatedKind) -> str:
    if gated == "manual":
        return QCoreApplication.translate(
            "ModelsWording", "Gated (the authors approve each request)"
        )
    if gated:
        return QCoreApplication.translate("ModelsWording", "Gated (accept the licence on the Hub)")
    return ""


def duration_text(seconds: float | None) -> str:
    """A time left: "45 s", "3 min", "1 h 20 min"; "" when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    whole = round(seconds)
    if whole < 60:
        return QCoreApplication.translate("ModelsWording", "{n} s").format(n=whole)
    minutes = round(whole / 60)
    if minutes < 60:
        return QCoreApplication.translate("ModelsWording", "{n} min").format(n=minutes)
    return QCoreApplication.translate("ModelsWording", "{h} h {m} min").format(
        h=minutes // 60, m=minutes % 60
    )


def speed_text(bytes_per_second: float) -> str:
    return QCoreApplication.translate("ModelsWording", "{size}/s").format(
        size=size_text(int(bytes_per_second))
    )


def fit_text(advice: FitAdvice | None) -> str:
    """One line a user reads: how the model would run here, and with how much context."""
    if advice is None:
        return QCoreApplication.translate("ModelsWording", "Checking…")
    if advice.kind == "too_large":
        return QCoreApplication.translate("ModelsWording", "Too large for this computer")
    how = {
        "full_gpu": QCoreApplication.translate("ModelsWording", "Fits fully on the GPU"),
        "partial_gpu": QCoreApplication.translate("ModelsWording", "Partly on the GPU"),
        "cpu_only": QCoreApplication.translate("ModelsWording", "Runs on the CPU"),
    }[advice.kind]
    if advice.kind == "partial_gpu" and advice.gpu_layers > 0:
        how = QCoreApplication.translate("ModelsWording", "Partly on the GPU ({n} layers)").format(
            n=advice.gpu_layers
        )
    if advice.context:
        how = QCoreApplication.translate("ModelsWording", "{how}, up to {context}").format(
            how=how, context=tokens_text(advice.context)
        )
    return how


def fit_detail(advice: FitAdvice | None) -> str:
    """The longer explanation for a tooltip."""
    if advice is None:
        return QCoreApplication.translate(
            "ModelsWording", "Reading the model's header from the Hub…"
        )
    needed = QCoreApplication.translate(
        "ModelsWording", "Needs about {size} with this context."
    ).format(size=size_text(advice.needed_bytes))
    if advice.estimated:
        return (
            needed
            + " "
            + QCoreApplication.translate(
                "ModelsWording", "Estimated from the file size; the model's header is not read yet."
            )
        )
    return (
        needed
        + " "
        + QCoreApplication.translate(
            "ModelsWording", "From the model's header and this computer's memory."
        )
    )


def error_text(error: BaseException) -> str:
    """A service error in words: the kind's sentence, then the service's own line."""
    if isinstance(error, ModelsError):
        general = _error_sentence(error.kind)
        detail = error.message.strip()
        if not detail or detail == general:
            return general
        return QCoreApplication.translate("ModelsWording", "{general} ({detail})").format(
            general=general, detail=detail
        )
    return QCoreApplication.translate("ModelsWording", "Unexpected error: {error}").format(
        error=str(error) or type(error).__name__
    )


def _error_sentence(kind: str) -> str:
    sentences = {
        "auth": QCoreApplication.translate(
            "ModelsWording", "This needs a Hugging Face token (or the token given was refused)."
        ),
        "gated": QCoreApplication.translate(
            "ModelsWording",
            "This repository is gated: accept its terms on the Hub with your account, "
            "then try again.",
        ),
        "not_found": QCoreApplication.translate("ModelsWording", "Not found on the Hub."),
        "rate_limited": QCoreApplication.translate(
            "ModelsWording",
            "The Hub asked to slow down (too many requests). Try again in a minute.",
        ),
        "network": QCoreApplication.translate(
            "ModelsWording",
            "The Hub could not be reached. Check the connection, the proxy or the Hub "
            "address in Settings.",
        ),
        "server": QCoreApplication.translate("ModelsWording", "The Hub answered with an error."),
        "unsafe_name": QCoreApplication.translate(
            "ModelsWording",
            "The file name would land outside the models folder, so it was refused.",
        ),
        "disk_full": QCoreApplication.translate(
            "ModelsWording", "There is not enough free disk space."
        ),
        "checksum": QCoreApplication.translate(
            "ModelsWording",
            "The downloaded file does not match the Hub's checksum, so it was not used.",
        ),
        "invalid": QCoreApplication.translate("ModelsWording", "This input was not accepted."),
        "io": QCoreApplication.translate("ModelsWording", "The file could not be written or read."),
    }
    return sentences.get(kind, QCoreApplication.translate("ModelsWording", "Something went wrong."))


def download_status_text(progress: DownloadProgress) -> str:
    """The line under a download's progress bar."""
    received = size_text(progress.received)
    total = size_text(progress.total) if progress.total is not None else None
    amount = (
        QCoreApplication.translate("ModelsWording", "{received} of {total}").format(
            received=received, total=total
        )
        if total is not None
        else received
    )
    status = progress.status
    if status == "downloading":
        parts = [amount]
        if progress.speed > 0:
            parts.append(speed_text(progress.speed))
        left = duration_text(progress.eta)
        if left:
            parts.append(
                QCoreApplication.translate("ModelsWording", "{time} left").format(time=left)
            )
        return " · ".join(parts)
    if status == "queued":
        return QCoreApplication.translate("ModelsWording", "Waiting for another download to finish")
    if status == "paused":
        return QCoreApplication.translate("ModelsWording", "Paused at {amount}").format(
            amount=amount
        )
    if status == "retrying":
        reason = error_text(progress.error) if progress.error is not None else ""
        line = QCoreApplication.translate(
            "ModelsWording", "Connection trouble, trying again (attempt {n})"
        ).format(n=progress.attempt)
        return f"{line}: {reason}" if reason else line
    if status == "verifying":
        return QCoreApplication.translate(
            "ModelsWording", "Checking the file against the Hub's checksum…"
        )
    if status == "done":
        return QCoreApplication.translate(
            "ModelsWording", "Verified and added to the library ({size})"
        ).format(
            size=size_text(progress.total if progress.total is not None else progress.received)
        )
    if status == "cancelled":
        return QCoreApplication.translate("ModelsWording", "Cancelled")
    reason = (
        error_text(progress.error)
        if progress.error is not None
        else QCoreApplication.translate("ModelsWording", "Unknown error")
    )
    return QCoreApplication.translate("ModelsWording", "Failed: {reason}").format(reason=reason)
