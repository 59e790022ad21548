"""A chat's own options: defaults from the settings, the contract's bounds, stored safely."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmos_desktop.core.chat.options import (
    CHAT_SAMPLING_FIELDS,
    MAX_SYSTEM_PROMPT_CHARS,
    ChatOptions,
)
from llmos_desktop.core.engine.contract import LoadOptions, SamplingOptions
from llmos_desktop.core.settings import CHAT_MAX_TOKENS, Settings


def test_a_new_chat_starts_from_the_chat_defaults_of_the_settings() -> None:
    options = ChatOptions()
    assert options.sampling == Settings().sampling
    assert options.sampling.max_tokens == CHAT_MAX_TOKENS
    assert options.model_path is None and options.system_prompt == "" and options.n_ctx is None


def test_from_settings_takes_the_user_s_sampling() -> None:
    settings = Settings(sampling=SamplingOptions(temperature=0.1, top_k=7, max_tokens=99))
    options = ChatOptions.from_settings(settings, model_path="/m/a.gguf")
    assert options.sampling == settings.sampling
    assert options.model_path == "/m/a.gguf"


def test_the_fields_a_chat_shows_are_the_contract_s() -> None:
    assert set(CHAT_SAMPLING_FIELDS) <= set(SamplingOptions.model_fields)
    assert {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "max_tokens",
        "seed",
    } == set(CHAT_SAMPLING_FIELDS)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"sampling": {"temperature": 6.0}}, "temperature"),
        ({"sampling": {"top_p": 1.5}}, "top_p"),
        ({"sampling": {"max_tokens": 0}}, "max_tokens"),
        ({"sampling": {"seed": -2}}, "seed"),
        ({"sampling": {"temperature": float("nan")}}, "temperature"),
        ({"n_ctx": 5}, "n_ctx"),
        ({"n_ctx": 10**9}, "n_ctx"),
        ({"system_prompt": "x" * (MAX_SYSTEM_PROMPT_CHARS + 1)}, "system_prompt"),
        ({"model_path": ""}, "model_path"),
        ({"colour": "red"}, "colour"),
        ({"sampling": {"logit_bias": {"1": 100}}}, "unknown sampling fields: logit_bias"),
    ],
)
def test_bounds_are_the_contract_s_and_unknown_fields_are_refused(
    values: dict[str, object], where: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatOptions.model_validate(values)
    assert where in str(caught.value)


def test_n_ctx_has_the_load_options_bounds() -> None:
    assert ChatOptions(n_ctx=128).n_ctx == 128
    with pytest.raises(ValidationError, match="greater than or equal to 128"):
        ChatOptions(n_ctx=127)


def test_with_sampling_validates_the_change() -> None:
    options = ChatOptions(system_prompt="Be brief.")
    warmer = options.with_sampling(temperature=1.3)
    assert warmer.sampling.temperature == 1.3 and warmer.system_prompt == "Be brief."
    assert options.sampling.temperature != 1.3, "frozen: a copy"
    with pytest.raises(ValidationError):
        options.with_sampling(top_k=-1)


def test_model_load_uses_the_chat_s_context_and_the_app_s_other_load_options() -> None:
    load = LoadOptions(n_ctx=4096, n_threads=3, n_gpu_layers=-1)
    assert ChatOptions().model_load("/m/a.gguf", load).n_ctx == 4096
    spec = ChatOptions(n_ctx=1024).model_load("/m/a.gguf", load)
    assert (spec.path, spec.n_ctx, spec.n_threads, spec.n_gpu_layers) == ("/m/a.gguf", 1024, 3, -1)


def test_stored_options_round_trip() -> None:
    options = ChatOptions(
        model_path="/m/a.gguf",
        system_prompt="你是一个有帮助的助手。",
        sampling=SamplingOptions(temperature=0.2, seed=42, stop=["###"]),
        n_ctx=2048,
    )
    assert ChatOptions.from_stored(options.stored()) == options


def test_a_bad_stored_value_falls_back_alone() -> None:
    stored = ChatOptions(system_prompt="keep me", sampling=SamplingOptions(top_k=3)).stored()
    stored["n_ctx"] = "big"
    stored["sampling"]["temperature"] = 100
    stored["sampling"]["from_a_newer_version"] = 1
    stored["also_newer"] = True
    read = ChatOptions.from_stored(stored)
    assert read.system_prompt == "keep me" and read.sampling.top_k == 3
    assert read.n_ctx is None
    assert read.sampling.temperature == ChatOptions().sampling.temperature
    assert ChatOptions.from_stored(None) == ChatOptions()
    assert ChatOptions.from_stored([1, 2]) == ChatOptions()
    assert ChatOptions.from_stored({"sampling": "nonsense"}) == ChatOptions()
