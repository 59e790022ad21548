"""BLEU, chrF and ROUGE (core/lab/scores.py) against the libraries called directly.

The lab's numbers must be the ones anyone gets from sacrebleu and rouge-score, so every
test computes the expected value with the library itself (or by hand, for the Chinese
ROUGE that the library's default cannot compute) and compares.
"""

from __future__ import annotations

from typing import Any

import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score.rouge_scorer import RougeScorer
from rouge_score.tokenizers import DefaultTokenizer

from llmos_desktop.core.lab.scores import (
    RougeTokenizer,
    bleu,
    chrf,
    detect_language,
    rouge,
    sacrebleu_tokenizer,
    score,
)

EN_HYPS = [
    "The cat sat on the mat near the door.",
    "It is raining heavily in the city today.",
    "Please send the report before Friday.",
]
EN_REFS = [
    ["The cat was sitting on the mat by the door."],
    ["Today it is raining hard in the city."],
    ["Please send me the report by Friday."],
]
ZH_HYP = "今天天气很好"
ZH_REF = "今天天气不错"


def test_bleu_equals_sacrebleu_corpus_bleu() -> None:
    ours = bleu(EN_HYPS, EN_REFS)
    theirs = sacrebleu.corpus_bleu(EN_HYPS, [[refs[0] for refs in EN_REFS]])
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert 0 < ours.score < 100
    assert ours.n_pairs == 3
    assert ours.lang is None
    assert "tok:13a" in ours.details["signature"]
    assert ours.details["precisions"] == pytest.approx(theirs.precisions)


def test_bleu_of_identical_and_disjoint_texts() -> None:
    assert bleu(["a b c d e f"], [["a b c d e f"]]).score == pytest.approx(100.0)
    assert bleu(["u v w x y z"], [["a b c d e f"]]).score == pytest.approx(0.0)


def test_chinese_bleu_uses_sacrebleus_chinese_tokenizer() -> None:
    ours = bleu([ZH_HYP], [[ZH_REF]])  # the language is detected from the reference
    theirs = sacrebleu.corpus_bleu([ZH_HYP], [[ZH_REF]], tokenize="zh")
    assert ours.lang == "zh"
    assert "tok:zh" in ours.details["signature"]
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert ours.score > 0
    # The default tokenizer sees each sentence as one word: no match at all.
    assert sacrebleu.corpus_bleu([ZH_HYP], [[ZH_REF]]).score == 0


def test_chrf_equals_sacrebleu_corpus_chrf() -> None:
    ours = chrf(EN_HYPS, EN_REFS)
    theirs = sacrebleu.corpus_chrf(EN_HYPS, [[refs[0] for refs in EN_REFS]])
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    zh = chrf([ZH_HYP], [[ZH_REF]])
    assert zh.score == pytest.approx(sacrebleu.corpus_chrf([ZH_HYP], [[ZH_REF]]).score)
    assert zh.score > 0


def test_several_references_per_pair_and_a_varying_number() -> None:
    hyps = ["the cat sat on the mat", "a dog barked loudly"]
    refs = [["the cat sat on a mat", "a cat sat on the mat"], ["the dog barked"]]
    # sacrebleu takes None for a missing reference (its type hints say str).
    streams: Any = [["the cat sat on a mat", "the dog barked"], ["a cat sat on the mat", None]]
    assert bleu(hyps, refs).score == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score)
    assert chrf(hyps, refs).score == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score)
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    expected = (
        sum(scorer.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True))
        / 2
    )
    assert rouge(hyps, refs).score == pytest.approx(100 * expected)


def test_english_rouge_equals_rouge_score_with_its_own_tokenizer() -> None:
    ours = rouge(EN_HYPS, EN_REFS)
    scorer = RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for name in ("rouge1", "rouge2", "rougeL"):
        values = [
            scorer.score(r[0], h)[name].fmeasure for h, r in zip(EN_HYPS, EN_REFS, strict=True)
        ]
        assert ours.details[name] == pytest.approx(100 * sum(values) / len(values), abs=1e-9)
    assert ours.score == ours.details["rougeL"]
    assert 0 < ours.score < 100


def test_chinese_rouge_scores_above_zero_where_the_default_tokenizer_gives_zero() -> None:
    default = RougeScorer(["rouge1", "rougeL"]).score(ZH_REF, ZH_HYP)
    assert default["rouge1"].fmeasure == 0  # the library's own tokenizer drops Chinese
    ours = rouge([ZH_HYP], [[ZH_REF]])
    assert ours.score > 0
    # By hand: one token per character; 今 天 天 气 match in order, 4 of 6 on each side.
    assert ours.details["rouge1"] == pytest.approx(100 * 4 / 6)
    assert ours.details["rougeL"] == pytest.approx(100 * 4 / 6)
    # Bigrams 今天 天天 天气 match, 3 of 5 on each side.
    assert ours.details["rouge2"] == pytest.approx(100 * 3 / 5)


def test_rouge_tokenizer_on_mixed_text() -> None:
    tokens = RougeTokenizer().tokenize("The cats are running! 我们用Python写代码。ひらがな 한국어")
    assert tokens == [
        "the", "cat", "are", "run",
        "我", "们", "用", "python", "写", "代", "码",
        "ひ", "ら", "が", "な", "한국어",
    ]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=80))
def test_rouge_tokenizer_equals_the_default_on_ascii(text: str) -> None:
    assert RougeTokenizer().tokenize(text) == DefaultTokenizer(use_stemmer=True).tokenize(text)


def test_detect_language() -> None:
    assert detect_language(["今天天气很好，我们去公园吧。"]) == "zh"
    assert detect_language(["今日はいい天気ですね。"]) == "ja"
    assert detect_language(["오늘 날씨가 좋네요."]) == "ko"
    assert detect_language(["The weather is fine today."]) is None
    assert detect_language(["We ate 饺子 at home with the whole family tonight."]) is None
    assert detect_language(["123 456", ""]) is None
    assert sacrebleu_tokenizer("zh") == sacrebleu_tokenizer("zh-CN") == "zh"
    assert sacrebleu_tokenizer("ja") == "char"
    assert sacrebleu_tokenizer("en") == sacrebleu_tokenizer(None) == "13a"


def test_an_explicit_language_wins_over_detection() -> None:
    forced = bleu([ZH_HYP], [[ZH_REF]], lang="en")
    assert forced.lang == "en"
    assert forced.score == 0  # 13a: each sentence one token


def test_empty_output_scores_zero_and_bad_calls_are_refused() -> None:
    for metric in ("bleu", "chrf", "rouge"):
        assert score(metric, [""], [["some reference text"]]).score == 0
        with pytest.raises(ValueError, match="2 outputs but 1"):
            score(metric, ["a", "b"], [["a"]])
        with pytest.raises(ValueError, match="no pairs"):
            score(metric, [], [])
        with pytest.raises(ValueError, match="at least one reference"):
            score(metric, ["a"], [[]])
    with pytest.raises(ValueError, match="unknown metric"):
        score("meteor", ["a"], [["a"]])  # type: ignore[arg-type]
