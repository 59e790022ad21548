"""Task scores: BLEU, chrF and ROUGE of model outputs against references.

The lab scores what a store app wrote (a translation, a summary) against reference
texts. The numbers must be the ones other people compute, so the work is done by the
libraries the field uses, not by code of our own:

- **BLEU and chrF** come from sacrebleu, corpus-level (one score for the whole
  dataset, as papers report them, not a mean of sentence scores), with its default
  settings. Only the tokenizer depends on the language of the references: ``zh`` for
  Chinese (sacrebleu's own Chinese tokenizer: each Han character a token), ``char``
  for Japanese and Korean (sacrebleu's ``ja-mecab`` and ``ko-mecab`` need MeCab,
  which we do not ship), ``13a`` (its default) for the rest. The details keep
  sacrebleu's signature, so a score can be reproduced with the ``sacrebleu`` command.
- **ROUGE** comes from Google's rouge-score package (ROUGE-1, ROUGE-2 and ROUGE-L F1,
  each the mean over the pairs; the score is ROUGE-L). Its default tokenizer keeps only
  ``[a-z0-9]`` and so drops every Chinese character: a Chinese summary would score 0
  whatever it said. ``RougeTokenizer`` does what the default does for Latin text
  (lower case, words of letters and digits, the Porter stemmer on words longer than 3
  letters, as ``use_stemmer=True`` does) and makes each Han, Hiragana and Katakana
  character a token of its own, as sacrebleu's ``zh`` tokenizer does. On ASCII text it
  gives exactly the default tokenizer's tokens, so English ROUGE equals the package's
  own numbers (a test holds it to that).

All three scores are on a 0-100 scale (sacrebleu's; ROUGE's 0-1 F1 times 100), so the
comparison view can put them side by side. The libraries are imported when a score is
first computed, not when the lab is opened.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast, get_args

__all__ = [
    "METRICS",
    "Metric",
    "MetricScore",
    "RougeTokenizer",
    "bleu",
    "chrf",
    "detect_language",
    "rouge",
    "sacrebleu_tokenizer",
    "score",
]

Metric = Literal["bleu", "chrf", "rouge"]
METRICS: Final[tuple[Metric, ...]] = get_args(Metric)

ROUGE_TYPES: Final = ("rouge1", "rouge2", "rougeL")
"""What ``rouge`` computes; the score is ROUGE-L (the longest common subsequence), the
one summaries are usually compared by; the others are in the details."""

# Han (CJK unified ideographs and their extensions, compatibility ideographs), the
# Japanese kana, and CJK punctuation is dropped as other punctuation is.
_CJK_RANGES: Final = (
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\u3040-\u309f"  # hiragana
    "\u30a0-\u30ff"  # katakana
    "\U00020000-\U0002ebef"  # extensions B-F
    "\U00030000-\U0003134f"  # extension G
)
_CJK_CHAR: Final = re.compile(f"[{_CJK_RANGES}]")
# A token: one CJK character, or a run of letters and digits that holds none.
_TOKEN: Final = re.compile(f"[{_CJK_RANGES}]|(?:(?![{_CJK_RANGES}])[^\\W_])+")
_HAN: Final = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA: Final = re.compile("[\u3040-\u309f\u30a0-\u30ff]")
_HANGUL: Final = re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_STEM_MIN: Final = 4  # rouge-score stems words "more than 3 characters long"


@dataclass(frozen=True)
class MetricScore:
    """One metric over a set of pairs: ``score`` on 0-100, ``details`` what the library
    reported besides (signature, n-gram precisions, ROUGE variants...), JSON-friendly."""

    metric: Metric
    score: float
    n_pairs: int
    lang: str | None
    details: dict[str, Any] = field(default_factory=dict)


# --- languages ---------------------------------------------------------------------------


def detect_language(texts: Sequence[str]) -> str | None:
    """``zh``, ``ja`` or ``ko`` when the texts are written in that script (at least a
    tenth of their letters), else None (a language written with spaces between words).
    Kana mark Japanese even among Han characters; Han alone reads as Chinese."""
    letters = han = kana = hangul = 0
    for text in texts:
        for char in text:
            if char.isalpha():
                letters += 1
        han += len(_HAN.findall(text))
        kana += len(_KANA.findall(text))
        hangul += len(_HANGUL.findall(text))
    if letters == 0:
        return None
    if kana * 10 >= letters:
        return "ja"
    if hangul * 10 >= letters:
        return "ko"
    if han * 10 >= letters:
        return "zh"
    return None


def sacrebleu_tokenizer(lang: str | None) -> str:
    """The sacrebleu tokenizer for references in ``lang`` (see the module docstring)."""
    base = (lang or "").lower().replace("_", "-").split("-")[0]
    if base == "zh":
        return "zh"
    if base in ("ja", "ko"):
        return "char"
    return "13a"


# --- the metrics -------------------------------------------------------------------------


def score(
    metric: Metric,
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    lang: str | None = None,
) -> MetricScore:
    """``metric`` of ``hypotheses[i]`` against ``references[i]`` (one or more texts each).
    ``lang``: the references' language (default: ``detect_language`` on them)."""
    if metric == "bleu":
        return bleu(hypotheses, references, lang=lang)
    if metric == "chrf":
        return chrf(hypotheses, references, lang=lang)
    if metric == "rouge":
        return rouge(hypotheses, references, lang=lang)
    raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRICS)})")


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    lang: str | None = None,
) -> MetricScore:
    """Corpus BLEU by sacrebleu, with the tokenizer for ``lang``."""
    from sacrebleu.metrics.bleu import BLEU

    lang = _language(references, lang)
    metric = BLEU(tokenize=sacrebleu_tokenizer(lang))
    result = metric.corpus_score(list(hypotheses), _streams(hypotheses, references))
    return MetricScore(
        metric="bleu",
        score=float(result.score),
        n_pairs=len(hypotheses),
        lang=lang,
        details={
            "signature": str(metric.get_signature()),
            "precisions": [float(p) for p in result.precisions],
            "brevity_penalty": float(result.bp),
            "hyp_len": int(result.sys_len),
            "ref_len": int(result.ref_len),
        },
    )


def chrf(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    lang: str | None = None,
) -> MetricScore:
    """Corpus chrF by sacrebleu (character n-grams: no tokenizer, whitespace ignored,
    so it needs nothing language-specific)."""
    from sacrebleu.metrics.chrf import CHRF

    lang = _language(references, lang)
    metric = CHRF()
    result = metric.corpus_score(list(hypotheses), _streams(hypotheses, references))
    return MetricScore(
        metric="chrf",
        score=float(result.score),
        n_pairs=len(hypotheses),
        lang=lang,
        details={"signature": str(metric.get_signature())},
    )


def rouge(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    lang: str | None = None,
) -> MetricScore:
    """ROUGE-1/2/L F1 by rouge-score with ``RougeTokenizer``, each the mean over the
    pairs (against several references: the best one, rouge-score's ``score_multi``)."""
    from rouge_score.rouge_scorer import RougeScorer

    lang = _language(references, lang)
    _check(hypotheses, references)
    scorer = RougeScorer(list(ROUGE_TYPES), tokenizer=RougeTokenizer())
    sums: dict[str, list[float]] = {name: [] for name in ROUGE_TYPES}
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        scores = scorer.score_multi(list(refs), hypothesis)
        for name in ROUGE_TYPES:
            sums[name].append(float(scores[name].fmeasure))
    means = {name: 100.0 * statistics.fmean(values) for name, values in sums.items()}
    return MetricScore(
        metric="rouge",
        score=means["rougeL"],
        n_pairs=len(hypotheses),
        lang=lang,
        details={
            **means,
            "tokenizer": "rouge-score's default (stemmed) + one token per CJK character",
        },
    )


class RougeTokenizer:
    """rouge-score's default tokenizer with stemming, extended to keep Chinese and
    Japanese: each Han or kana character is a token (see the module docstring).

    rouge-score calls ``tokenize(text)``; it duck-types the tokenizer, so this needs no
    base class from the package (which would import it at module load)."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        tokens: list[str] = []
        for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).lower()):
            token = match.group()
            if len(token) >= _STEM_MIN and not _CJK_CHAR.match(token):
                token = self._stemmer.stem(token)
            tokens.append(token)
        return tokens


# --- inside ------------------------------------------------------------------------------


def _language(references: Sequence[Sequence[str]], lang: str | None) -> str | None:
    if lang is not None:
        return lang
    return detect_language([text for refs in references for text in refs])


def _check(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if not hypotheses:
        raise ValueError("no pairs to score")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} outputs but {len(references)} reference sets")
    if any(not refs for refs in references):
        raise ValueError("every output needs at least one reference")


def _streams(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[list[str]]:
    """sacrebleu's reference streams: stream k holds each pair's k-th reference (None
    where a pair has fewer, which sacrebleu allows for a varying number of references,
    though its type hints say ``str``)."""
    _check(hypotheses, references)
    width = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    return cast("list[list[str]]", streams)
