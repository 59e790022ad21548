"""The engine contract: one set of defaults and bounds, used by every layer that loads or samples."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from llmos_desktop.cli import build_parser
from llmos_desktop.core.chat.session import ChatSession
from llmos_desktop.core.engine.contract import (
    MAX_PATH_CHARS,
    MAX_STOP_LENGTH,
    MAX_STOP_STRINGS,
    MAX_TEMPLATE_OVERRIDE_CHARS,
    ErrorKind,
    LoadOptions,
    ModelLoad,
    SamplingOptions,
)
from llmos_desktop.core.engine.process.protocol import ChatCompletionRequest
from llmos_desktop.core.engine.process.runtime import EngineRuntime
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.settings import CHAT_MAX_TOKENS, Settings, load_settings, save_settings
from tests.unit.core.engine.process.server.serving import serving

LOAD_DEFAULTS = {
    "n_ctx": 4096,
    "n_gpu_layers": 0,
    "n_threads": None,
    "chat_template": None,
    "n_parallel": 1,
}
SAMPLING_DEFAULTS = {
    "temperature": 0.8,
    "top_p": 0.95,
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "max_tokens": None,
    "stop": None,
    "seed": None,
}
USER = [{"role": "user", "content": "hi"}]


def _fields(model: BaseModel, names: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(model, name) for name in names}


def _refused_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {str(error["loc"][0]) for error in exc.value.errors()}


# --- defaults: written once, the same wherever they are used ------------------------


def test_sampling_defaults_are_what_llama_cpp_users_expect() -> None:
    assert SamplingOptions().model_dump() == SAMPLING_DEFAULTS


def test_load_defaults() -> None:
    assert LoadOptions().model_dump() == LOAD_DEFAULTS
    assert ModelLoad(path="m.gguf").options == LoadOptions()


def test_sampling_defaults_are_the_same_in_every_layer() -> None:
    api = ChatCompletionRequest.model_validate({"messages": USER})
    assert _fields(api, SAMPLING_DEFAULTS) == SAMPLING_DEFAULTS
    assert ChatSession(engine=None).sampling == SamplingOptions()  # type: ignore[arg-type]
    chat = Settings().sampling
    # The chat's replies have a length by default; everything else is the contract's.
    assert chat == SamplingOptions(max_tokens=CHAT_MAX_TOKENS)


def test_load_defaults_are_the_same_in_settings_and_the_cli() -> None:
    assert Settings().load == LoadOptions()
    args = build_parser().parse_args(["serve", "--model", "m.gguf"])
    assert {name: getattr(args, name) for name in LOAD_DEFAULTS} == LOAD_DEFAULTS


# --- bounds: refused with an error that names the field ------------------------------


@pytest.mark.parametrize(
    ("model", "values", "field"),
    [
        (LoadOptions, {"n_ctx": 127}, "n_ctx"),
        (LoadOptions, {"n_ctx": 1_048_577}, "n_ctx"),
        (LoadOptions, {"n_threads": 0}, "n_threads"),
        (LoadOptions, {"n_gpu_layers": -2}, "n_gpu_layers"),
        (LoadOptions, {"chat_template": "x" * (MAX_TEMPLATE_OVERRIDE_CHARS + 1)}, "chat_template"),
        (LoadOptions, {"n_ctx": "many"}, "n_ctx"),
        (ModelLoad, {"path": ""}, "path"),
        (ModelLoad, {"path": "m" * (MAX_PATH_CHARS + 1)}, "path"),
        (ModelLoad, {"path": "m.gguf", "n_ctx": 64}, "n_ctx"),
        (SamplingOptions, {"temperature": math.nan}, "temperature"),
        (SamplingOptions, {"temperature": math.inf}, "temperature"),
        (SamplingOptions, {"temperature": -math.inf}, "temperature"),
        (SamplingOptions, {"temperature": 5.01}, "temperature"),
        (SamplingOptions, {"temperature": -0.1}, "temperature"),
        (SamplingOptions, {"top_p": 1.5}, "top_p"),
        (SamplingOptions, {"top_p": math.nan}, "top_p"),
        (SamplingOptions, {"min_p": -0.01}, "min_p"),
        (SamplingOptions, {"top_k": -1}, "top_k"),
        (SamplingOptions, {"repeat_penalty": 0.0}, "repeat_penalty"),
        (SamplingOptions, {"presence_penalty": 2.5}, "presence_penalty"),
        (SamplingOptions, {"frequency_penalty": -2.5}, "frequency_penalty"),
        (SamplingOptions, {"max_tokens": 0}, "max_tokens"),
        (SamplingOptions, {"seed": -2}, "seed"),
        (SamplingOptions, {"seed": 2**32}, "seed"),
        (SamplingOptions, {"stop": ["s"] * (MAX_STOP_STRINGS + 1)}, "stop"),
        (SamplingOptions, {"stop": "s" * (MAX_STOP_LENGTH + 1)}, "stop"),
        (SamplingOptions, {"stop": ["ok", "s" * (MAX_STOP_LENGTH + 1)]}, "stop"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_field(
    model: type[BaseModel], values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model(**values)
    assert _refused_fields(caught) == {field}


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (LoadOptions, {"n_ctx": 128, "n_threads": 1, "n_gpu_layers": -1}),
        (LoadOptions, {"n_ctx": 1_048_576, "chat_template": "x" * MAX_TEMPLATE_OVERRIDE_CHARS}),
        (ModelLoad, {"path": "m" * MAX_PATH_CHARS}),
        (SamplingOptions, {"temperature": 0.0, "top_p": 1.0, "top_k": 0, "seed": -1}),
        (SamplingOptions, {"temperature": 5.0, "seed": 2**32 - 1, "max_tokens": 1}),
        (SamplingOptions, {"stop": ["s" * MAX_STOP_LENGTH] * MAX_STOP_STRINGS}),
    ],
)
def test_values_at_the_bounds_are_accepted(model: type[BaseModel], values: dict[str, Any]) -> None:
    assert _fields(model(**values), values) == values


def test_unknown_load_options_are_refused_but_sampling_ignores_them() -> None:
    with pytest.raises(ValidationError) as caught:
        LoadOptions(n_cxt=2048)  # type: ignore[call-arg]
    assert _refused_fields(caught) == {"n_cxt"}
    # Sampling options arrive inside larger request bodies (OpenAI's extras).
    assert SamplingOptions(logit_bias={}) == SamplingOptions()


@pytest.mark.parametrize(
    ("options", "field", "value"),
    [
        (LoadOptions(), "n_ctx", 256),
        (ModelLoad(path="m.gguf"), "path", "other.gguf"),
        (SamplingOptions(), "temperature", 0.1),
    ],
)
def test_options_are_frozen(options: BaseModel, field: str, value: Any) -> None:
    before = options.model_dump()
    with pytest.raises(ValidationError):
        setattr(options, field, value)
    assert options.model_dump() == before


# --- helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        (None, []),
        ("</s>", ["</s>"]),
        ("", []),
        (["a", "", "b"], ["a", "b"]),
        ([], []),
    ],
)
def test_stop_list(stop: str | list[str] | None, expected: list[str]) -> None:
    assert SamplingOptions(stop=stop).stop_list() == expected


class _RequestBody(SamplingOptions):
    """Like the API's request bodies: the sampling fields and more."""

    model: str = "m"
    stream: bool = True


def test_sampling_keeps_only_the_sampling_fields_and_applies_changes() -> None:
    body = _RequestBody(temperature=0.2, stop="x", model="other")
    sampling = body.sampling(max_tokens=7, stop=["y"])
    assert type(sampling) is SamplingOptions
    assert sampling == SamplingOptions(temperature=0.2, max_tokens=7, stop=["y"])
    assert body.max_tokens is None and body.stop == "x", "the original is unchanged"


def test_sampling_changes_are_validated() -> None:
    with pytest.raises(ValidationError) as caught:
        SamplingOptions().sampling(temperature=99)
    assert _refused_fields(caught) == {"temperature"}


def test_request_fields_leave_unset_values_to_the_server() -> None:
    fields = SamplingOptions().request_fields()
    assert fields == {k: v for k, v in SAMPLING_DEFAULTS.items() if v is not None}
    # Falsy values are values: seed 0 and no stop strings are sent.
    fields = SamplingOptions(seed=0, stop=[], max_tokens=5).request_fields()
    assert (fields["seed"], fields["stop"], fields["max_tokens"]) == (0, [], 5)
    assert json.loads(json.dumps(fields)) == fields, "the fields are JSON as they are"


def test_request_fields_of_a_request_body_are_only_sampling_fields() -> None:
    assert set(_RequestBody().request_fields()) <= set(SamplingOptions.model_fields)


def test_model_load_options_are_its_load_options_part() -> None:
    spec = ModelLoad(
        path="m.gguf", alias="mine", n_ctx=256, n_gpu_layers=-1, n_threads=3, chat_template="chatml"
    )
    options = spec.options
    assert type(options) is LoadOptions
    assert options == LoadOptions(n_ctx=256, n_gpu_layers=-1, n_threads=3, chat_template="chatml")


# --- the CLI is generated from the load options ---------------------------------------


def test_every_load_option_names_a_cli_flag_that_the_cli_accepts() -> None:
    flags: dict[str, str] = {}
    for name, info in ModelLoad.model_fields.items():
        extra = info.json_schema_extra
        flag = extra.get("cli") if isinstance(extra, dict) else None
        if name in LoadOptions.model_fields or name == "path":
            assert isinstance(flag, str) and flag.startswith("--"), name
        if isinstance(flag, str):
            flags[name] = flag
    assert len(set(flags.values())) == len(flags), "two fields share a flag"

    values = {"path": "m.gguf", "n_ctx": "256", "n_gpu_layers": "2", "n_threads": "3"}
    values["chat_template"] = "chatml"
    values["n_parallel"] = "4"
    argv = ["serve"]
    for name, flag in flags.items():
        argv += [flag, values[name]]
    args = build_parser().parse_args(argv)
    for name in flags:
        assert str(getattr(args, name)) == values[name], name


# --- error kinds ------------------------------------------------------------------------


def test_error_kinds_are_their_wire_strings() -> None:
    for kind in ErrorKind:
        assert kind == kind.name.lower()
        assert json.dumps({"code": kind}) == json.dumps({"code": kind.name.lower()})
    assert ErrorKind("model_not_loaded") is ErrorKind.MODEL_NOT_LOADED


def test_error_kinds_are_unique() -> None:
    assert enum.unique(ErrorKind) is ErrorKind
    assert len(ErrorKind.__members__) == len({kind.value for kind in ErrorKind})


# --- numbers as JSON writes them ------------------------------------------------------

LAX_NUMBERS = [
    (LoadOptions, "n_ctx", "4096"),
    (LoadOptions, "n_ctx", 4096.5),
    (LoadOptions, "n_ctx", True),
    (LoadOptions, "n_gpu_layers", "-1"),
    (LoadOptions, "n_gpu_layers", False),
    (LoadOptions, "n_threads", "2"),
    (ModelLoad, "n_threads", 2.5),
    (SamplingOptions, "top_k", "40"),
    (SamplingOptions, "max_tokens", "5"),
    (SamplingOptions, "max_tokens", True),
    (SamplingOptions, "max_tokens", 5.5),
    (SamplingOptions, "seed", "1"),
    (SamplingOptions, "temperature", "0.5"),
    (SamplingOptions, "temperature", True),
    (SamplingOptions, "top_p", "1"),
]


@pytest.mark.parametrize(("model", "field", "value"), LAX_NUMBERS)
def test_numbers_in_strings_and_booleans_are_refused(
    model: type[BaseModel], field: str, value: object
) -> None:
    """pydantic's lax mode would read "5" as 5 and true as 1; the contract takes JSON
    numbers only, from Python and from JSON alike."""
    values = {"path": "m.gguf"} if model is ModelLoad else {}
    values[field] = value  # type: ignore[assignment]
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    assert _refused_fields(caught) == {field}
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(values))
    assert _refused_fields(caught) == {field}


def test_json_integers_are_accepted_and_floats_take_integers() -> None:
    load = ModelLoad.model_validate_json('{"path": "m.gguf", "n_ctx": 2048, "n_gpu_layers": -1}')
    assert (load.n_ctx, load.n_gpu_layers) == (2048, -1)
    sampling = SamplingOptions.model_validate_json(
        '{"temperature": 1, "top_p": 1, "min_p": 0, "max_tokens": 5, "seed": 0}'
    )
    assert (sampling.temperature, sampling.top_p, sampling.min_p) == (1.0, 1.0, 0.0)
    assert type(sampling.temperature) is float
    assert (sampling.max_tokens, sampling.seed) == (5, 0)


def test_settings_files_still_load_their_numbers(tmp_path: Path) -> None:
    """The settings file is JSON the app wrote: its integers and floats load as they were."""
    path = tmp_path / "settings.json"
    saved = Settings(
        load=LoadOptions(n_ctx=8192, n_gpu_layers=-1, n_threads=4),
        sampling=SamplingOptions(temperature=1, top_k=20, max_tokens=256, seed=7),
    )
    save_settings(path, saved)
    assert load_settings(path) == saved
    # A value someone typed in quotes falls back to its default alone.
    data = json.loads(path.read_text())
    data["load"]["n_ctx"] = "8192"
    path.write_text(json.dumps(data))
    loaded = load_settings(path)
    assert loaded.load == LoadOptions(n_gpu_layers=-1, n_threads=4)
    assert loaded.sampling == saved.sampling


KEY = "k"


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    """The engine's API around a real runtime with no model: enough for validation."""
    runtime = EngineRuntime()
    try:
        with (
            serving(runtime, ServerConfig(token=KEY, control_token=KEY)) as served,
            httpx.Client(
                base_url=served.base_url, headers={"Authorization": f"Bearer {KEY}"}
            ) as client,
        ):
            yield client
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/v1/chat/completions", {"messages": USER, "max_tokens": "5"}, "max_tokens"),
        ("/v1/chat/completions", {"messages": USER, "max_tokens": True}, "max_tokens"),
        ("/v1/chat/completions", {"messages": USER, "seed": 1.5}, "seed"),
        ("/v1/chat/completions", {"messages": USER, "temperature": "0.2"}, "temperature"),
        ("/v1/completions", {"prompt": "Hi", "top_k": "40"}, "top_k"),
        ("/control/load", {"path": "m.gguf", "n_ctx": "4096"}, "n_ctx"),
        ("/control/load", {"path": "m.gguf", "n_threads": True}, "n_threads"),
    ],
)
def test_the_api_refuses_lax_numbers_with_a_400_naming_the_field(
    api: httpx.Client, route: str, body: dict[str, Any], field: str
) -> None:
    response = api.post(route, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_value" and error["param"] == field
    assert error["message"] == f"{field}: Input should be a valid " + (
        "number" if field == "temperature" else "integer"
    )


def test_the_api_takes_json_integers(api: httpx.Client) -> None:
    """The same fields as JSON numbers pass validation: the engine (with no model) says so."""
    response = api.post(
        "/v1/chat/completions",
        json={"messages": USER, "max_tokens": 5, "seed": 1, "temperature": 1, "top_k": 40},
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "model_not_loaded"


def test_an_integer_may_be_written_as_an_integral_float() -> None:
    """JSON Schema's "integer" includes 5.0 (clients and fuzzers write it); 5.5 stays refused."""
    assert SamplingOptions.model_validate({"max_tokens": 5.0, "seed": 7.0}).max_tokens == 5
    assert isinstance(SamplingOptions.model_validate({"seed": 7.0}).seed, int)
    assert LoadOptions.model_validate({"n_ctx": 512.0}).n_ctx == 512
    with pytest.raises(ValidationError):
        SamplingOptions.model_validate({"top_k": 40.5})
    with pytest.raises(ValidationError):
        SamplingOptions.model_validate({"temperature": "0.5"})
