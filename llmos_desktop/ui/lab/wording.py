"""What the Lab page says, in the window's language: errors, stages, types, numbers.

core/lab writes its messages in English for the log and the CLI; the page says the same
things through Qt's translator, keyed by the error's kind and the progress' stage (the
English message is kept as the detail, so nothing the worker said is lost). Numbers go
through QLocale, so a Chinese window writes them as a Chinese reader expects.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QCoreApplication, QLocale

from llmos_desktop.core.lab.types import LabError, QuantType


def error_text(exc: BaseException) -> str:
    """A failure of a lab run as one line for the user."""
    if not isinstance(exc, LabError):
        return str(exc) or type(exc).__name__
    kinds = {
        "invalid_source": QCoreApplication.translate("LabWording", "The model file cannot be used"),
        "invalid_type": QCoreApplication.translate(
            "LabWording", "That quantization type is not offered"
        ),
        "invalid_text": QCoreApplication.translate("LabWording", "The text cannot be used"),
        "invalid_job": QCoreApplication.translate("LabWording", "A value is out of range"),
        "invalid_dataset": QCoreApplication.translate("LabWording", "The dataset cannot be used"),
        "requantize_refused": QCoreApplication.translate(
            "LabWording", "The model is already quantized: confirm that requantizing loses quality"
        ),
        "out_exists": QCoreApplication.translate(
            "LabWording", "The output file exists already; the lab never overwrites a model"
        ),
        "disk_full": QCoreApplication.translate(
            "LabWording", "There is not enough free disk space"
        ),
        "cancelled": QCoreApplication.translate("LabWording", "Cancelled"),
        "worker_crashed": QCoreApplication.translate(
            "LabWording", "The lab's worker process stopped unexpectedly"
        ),
        "load_failed": QCoreApplication.translate(
            "LabWording", "llama.cpp could not load the model"
        ),
        "quantize_failed": QCoreApplication.translate(
            "LabWording", "llama.cpp could not quantize the model"
        ),
        "io": QCoreApplication.translate("LabWording", "The disk could not be read or written"),
        "app_failed": QCoreApplication.translate(
            "LabWording", "The app failed while it was scored"
        ),
    }
    summary = kinds.get(exc.kind, exc.kind)
    return f"{summary}: {exc.message}" if exc.message else summary


def stage_text(stage: str, detail: str = "") -> str:
    """A worker's progress stage (LabProgress.stage) in words, with its detail line."""
    stages = {
        "checking": QCoreApplication.translate(
            "LabWording", "Checking the source and the free disk space…"
        ),
        "quantizing": QCoreApplication.translate("LabWording", "Quantizing…"),
        "verifying": QCoreApplication.translate(
            "LabWording", "Loading the result once to check that it works…"
        ),
        "loading": QCoreApplication.translate("LabWording", "Loading the model…"),
        "tokenizing": QCoreApplication.translate("LabWording", "Tokenizing the text…"),
        "scoring": QCoreApplication.translate("LabWording", "Scoring the text…"),
        "warmup": QCoreApplication.translate("LabWording", "Warming up…"),
        "pp": QCoreApplication.translate("LabWording", "Measuring prompt processing…"),
        "tg": QCoreApplication.translate("LabWording", "Measuring generation…"),
        "running": QCoreApplication.translate("LabWording", "Running the app over the dataset…"),
        "done": QCoreApplication.translate("LabWording", "Finishing…"),
    }
    text = stages.get(stage, stage)
    return f"{text} {detail}" if detail else text


def type_description(qtype: QuantType) -> str:
    """What a quantization type is, in a few words (as core/lab/types.py describes it)."""
    descriptions = {
        QuantType.Q8_0: QCoreApplication.translate("LabWording", "8-bit, nearly lossless"),
        QuantType.Q6_K: QCoreApplication.translate("LabWording", "6-bit K-quant, very small loss"),
        QuantType.Q5_K_M: QCoreApplication.translate("LabWording", "5-bit K-quant, small loss"),
        QuantType.Q4_K_M: QCoreApplication.translate(
            "LabWording", "4-bit K-quant, the usual balance"
        ),
        QuantType.Q4_0: QCoreApplication.translate(
            "LabWording", "4-bit legacy, fast on some back ends"
        ),
        QuantType.IQ4_NL: QCoreApplication.translate("LabWording", "4-bit non-linear"),
        QuantType.IQ4_XS: QCoreApplication.translate("LabWording", "4.25-bit i-quant"),
        QuantType.IQ3_M: QCoreApplication.translate(
            "LabWording", "3-bit i-quant, noticeable loss without an importance matrix"
        ),
        QuantType.IQ3_S: QCoreApplication.translate(
            "LabWording", "3-bit i-quant, noticeable loss without an importance matrix"
        ),
    }
    return descriptions.get(qtype, qtype.description)


def metric_name(metric: str) -> str:
    names = {"bleu": "BLEU", "chrf": "chrF", "rouge": "ROUGE-L", "rougel": "ROUGE-L"}
    return names.get(metric.lower(), metric)


def number(value: float, decimals: int = 2) -> str:
    if not math.isfinite(value):
        return "–"
    return QLocale().toString(float(value), ord("f"), decimals)


def with_error(value: float, error: float | None, decimals: int = 2) -> str:
    """``value ± error`` (just the value when there is no error)."""
    if error is None or not math.isfinite(error) or error <= 0:
        return number(value, decimals)
    return f"{number(value, decimals)} ± {number(error, decimals)}"


def size_text(size: int | None) -> str:
    """A file size as the Models page writes it ("1.2 GB")."""
    from llmos_desktop.ui.models.wording import size_text as models_size_text

    return models_size_text(size)
