"""What every variant shares (context size, sampling, the prompt) and small helpers."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from llmos_desktop.core.engine.contract import SamplingOptions

N_CTX = 4096

# Sampling shared by every variant: the app's defaults (top_k 40, top_p 0.95, min_p 0.05,
# repeat_penalty 1.0, no presence/frequency penalty) at temperature 0, which is greedy,
# so all variants produce the same tokens. Every field is sent anyway so every sampler
# chain matches (llama_cpp.server's default repeat_penalty, for one, is 1.1).
GREEDY = SamplingOptions(temperature=0.0)

# Greedy decoding of Gemma 3 270M on this prompt does not reach EOS within 512 tokens.
GEN_PROMPT = (
    "Write a very long, detailed essay about the history of computing, "
    "from the abacus to modern GPUs."
)

REPLY_TOKENS = 16  # replies in the TTFT conversations, as a chat app would cap a test
TURNS = 10


def greedy(max_tokens: int) -> SamplingOptions:
    """The sampling of one greedy reply of at most ``max_tokens``."""
    return GREEDY.sampling(max_tokens=max_tokens)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def log(message: str) -> None:
    print(message, flush=True)
