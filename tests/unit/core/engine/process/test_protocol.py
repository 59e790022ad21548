"""The API's request bodies: what a client may send, what the server reads from it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from llmos_desktop.core.engine.contract import (
    MAX_TEMPLATE_OVERRIDE_CHARS,
    ErrorKind,
    ModelLoad,
    SamplingOptions,
)
from llmos_desktop.core.engine.process.protocol import (
    MAX_MESSAGES,
    ChatCompletionRequest,
    CompletionRequest,
    LoadRequest,
    error_body,
)

USER = {"role": "user", "content": "hi"}


def _refused(model: Any, body: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return caught.value


def _refused_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


# --- chat completions -------------------------------------------------------------------


def test_chat_messages_are_read_as_role_and_text() -> None:
    body = ChatCompletionRequest.model_validate(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is "},
                        {"type": "image_url", "image_url": {"url": "data:,"}},
                        {"type": "text", "text": "this?"},
                    ],
                },
                {"role": "assistant", "content": None},
                {"role": "developer", "content": [{"type": "text"}]},
                {"role": "tool", "content": "42", "name": "calc"},
            ]
        }
    )
    assert [(m.role, m.text()) for m in body.messages] == [
        ("system", "Be brief."),
        ("user", "What is this?"),
        ("assistant", ""),
        ("developer", ""),
        ("tool", "42"),
    ]


def test_unknown_roles_and_empty_conversations_are_refused() -> None:
    error = _refused(ChatCompletionRequest, {"messages": [{"role": "robot", "content": "x"}]})
    assert _refused_fields(error) == {"messages.0.role"}
    assert _refused_fields(_refused(ChatCompletionRequest, {"messages": []})) == {"messages"}
    assert _refused_fields(_refused(ChatCompletionRequest, {})) == {"messages"}


def test_the_number_of_messages_is_bounded() -> None:
    ChatCompletionRequest.model_validate({"messages": [USER] * MAX_MESSAGES})
    error = _refused(ChatCompletionRequest, {"messages": [USER] * (MAX_MESSAGES + 1)})
    assert _refused_fields(error) == {"messages"}


def test_openai_extras_the_engine_does_not_use_are_ignored() -> None:
    body = ChatCompletionRequest.model_validate(
        {"messages": [USER], "user": "u1", "logit_bias": {"1": 2}, "tools": []}
    )
    assert body.sampling() == SamplingOptions()


@pytest.mark.parametrize("n", [0, 2])
def test_only_one_choice_per_request(n: int) -> None:
    assert ChatCompletionRequest.model_validate({"messages": [USER], "n": 1}).n == 1
    error = _refused(ChatCompletionRequest, {"messages": [USER], "n": n})
    assert _refused_fields(error) == {"n"}
    error = _refused(CompletionRequest, {"prompt": "x", "n": n})
    assert _refused_fields(error) == {"n"}


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 99), ("top_p", -1), ("max_tokens", 0), ("max_completion_tokens", 0)],
)
def test_request_bodies_have_the_contract_bounds(field: str, value: Any) -> None:
    error = _refused(ChatCompletionRequest, {"messages": [USER], field: value})
    assert _refused_fields(error) == {field}
    assert _refused_fields(_refused(CompletionRequest, {"prompt": "x", field: value})) == {field}


def test_nan_in_the_json_body_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate_json(
            '{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}'
        )
    assert _refused_fields(caught.value) == {"temperature"}


# --- text completions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "value"),
    [("Once", "Once"), (["Once"], "Once"), ([1, 2, 3], [1, 2, 3])],
)
def test_the_three_prompt_forms(prompt: Any, value: str | list[int]) -> None:
    assert CompletionRequest.model_validate({"prompt": prompt}).prompt_value() == value


@pytest.mark.parametrize(
    ("prompt", "message"),
    [([], "prompt must not be empty"), (["a", "b"], "only one prompt per request")],
)
def test_an_empty_prompt_list_or_two_prompts_are_refused(prompt: list[str], message: str) -> None:
    error = _refused(CompletionRequest, {"prompt": prompt})
    assert message in str(error)


@pytest.mark.parametrize("prompt", [None, [1, "a"], [[1, 2]], {"text": "a"}])
def test_prompts_of_other_shapes_are_refused(prompt: Any) -> None:
    error = _refused(CompletionRequest, {"prompt": prompt})
    assert all(e["loc"][0] == "prompt" for e in error.errors())


def test_echo_defaults_to_off() -> None:
    assert CompletionRequest.model_validate({"prompt": "x"}).echo is False


# --- fields both completions share ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "limit"),
    [
        ({}, None),
        ({"max_tokens": 10}, 10),
        ({"max_completion_tokens": 5}, 5),
        ({"max_completion_tokens": 5, "max_tokens": 10}, 5),
    ],
)
def test_token_limit_prefers_max_completion_tokens(fields: dict[str, int], limit: int) -> None:
    assert ChatCompletionRequest.model_validate({"messages": [USER], **fields}).token_limit() == (
        limit
    )
    assert CompletionRequest.model_validate({"prompt": "x", **fields}).token_limit() == limit


@pytest.mark.parametrize(
    ("stream_options", "usage", "continuous"),
    [
        (None, False, False),
        ({}, False, False),
        ({"include_usage": True}, True, False),
        ({"continuous_usage_stats": True}, False, True),
        ({"include_usage": True, "continuous_usage_stats": True, "other": 1}, True, True),
    ],
)
def test_stream_options(
    stream_options: dict[str, Any] | None, usage: bool, continuous: bool
) -> None:
    body = ChatCompletionRequest.model_validate(
        {"messages": [USER], "stream": True, "stream_options": stream_options}
    )
    assert body.stream is True
    assert (body.include_usage(), body.continuous_usage()) == (usage, continuous)


def test_stream_is_off_by_default() -> None:
    body = ChatCompletionRequest.model_validate({"messages": [USER]})
    assert (body.stream, body.include_usage(), body.continuous_usage()) == (False, False, False)


def test_sampling_of_a_request_is_a_plain_sampling_options() -> None:
    body = ChatCompletionRequest.model_validate(
        {
            "messages": [USER],
            "model": "m",
            "temperature": 0.3,
            "seed": 7,
            "stop": ["a", ""],
            "max_completion_tokens": 9,
        }
    )
    sampling = body.sampling(max_tokens=body.token_limit(), stop=body.stop_list())
    assert type(sampling) is SamplingOptions
    assert sampling == SamplingOptions(temperature=0.3, seed=7, stop=["a"], max_tokens=9)


def test_what_the_client_sends_is_the_sampling_the_server_reads() -> None:
    chosen = SamplingOptions(temperature=0.1, top_k=5, stop=["</s>"], seed=0, max_tokens=12)
    body = ChatCompletionRequest.model_validate({"messages": [USER], **chosen.request_fields()})
    assert body.sampling(max_tokens=body.token_limit()) == chosen


# --- loading ------------------------------------------------------------------------------


def test_load_request_is_a_model_load_plus_stream() -> None:
    spec = ModelLoad(path="/m/model.gguf", n_ctx=256, n_threads=2, alias="mine")
    body = LoadRequest.model_validate({**spec.model_dump(exclude_none=True), "stream": True})
    assert body.stream is True
    # What the server hands to the runtime.
    assert ModelLoad(**body.model_dump(exclude={"stream"})) == spec
    assert LoadRequest.model_validate({"path": "m.gguf"}).stream is False


def test_load_request_refuses_unknown_fields() -> None:
    error = _refused(LoadRequest, {"path": "m.gguf", "n_ctxx": 2048})
    assert _refused_fields(error) == {"n_ctxx"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"n_ctx": 64}, "n_ctx"),
        ({"n_threads": 0}, "n_threads"),
        ({"path": ""}, "path"),
        ({"chat_template": "x" * (MAX_TEMPLATE_OVERRIDE_CHARS + 1)}, "chat_template"),
    ],
)
def test_load_request_has_the_contract_bounds(fields: dict[str, Any], field: str) -> None:
    error = _refused(LoadRequest, {"path": "m.gguf", **fields})
    assert _refused_fields(error) == {field}


def test_load_request_needs_a_path() -> None:
    assert _refused_fields(_refused(LoadRequest, {"n_ctx": 256})) == {"path"}


# --- errors -------------------------------------------------------------------------------


def test_error_body_is_openai_shaped() -> None:
    body = error_body(
        "no such file", type_="invalid_request_error", code=ErrorKind.MISSING, param="path"
    )
    assert json.loads(json.dumps(body)) == {
        "error": {
            "message": "no such file",
            "type": "invalid_request_error",
            "param": "path",
            "code": "missing",
        }
    }
    assert error_body("boom", type_="server_error") == {
        "error": {"message": "boom", "type": "server_error", "param": None, "code": None}
    }


def test_embedding_token_ids_are_json_integers() -> None:
    # Found by fuzzing: 1048576.0 is an integer in JSON (the document says "integer"), so
    # it must not be refused as "not a string".
    from llmos_desktop.core.engine.process.protocol import EmbeddingRequest

    request = EmbeddingRequest.model_validate(
        {"input": [[1048576.0, 147], [3.0]], "dimensions": 8.0}
    )
    assert request.items() == [[1048576, 147], [3]] and request.dimensions == 8
    for refused in ([[1.5]], [[True]], [["1"]], [1.5]):
        with pytest.raises(ValidationError):
            EmbeddingRequest.model_validate({"input": refused})
