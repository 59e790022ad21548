"""The real engine, fuzzed with schemathesis from its own OpenAPI document.

For each documented operation, schemathesis generates requests that fit the document
(positive) and requests that break it (negative), sends them to the engine process with
the real model, and runs its response checks: no 5xx, status codes, content types,
headers and bodies as documented, invalid data refused, valid data accepted, the key
enforced. Then the engine must still be healthy. The run is bounded (a fixed number of
examples per operation, derandomized, no shrinking) so it takes well under a minute.

schemathesis runs here through its Python API inside ordinary tests (not its pytest
plugin's parametrization), so the engine fixture and the time bound stay under our
control.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from llmos_desktop.core.engine.control.supervisor import EngineEndpoint
from llmos_desktop.core.engine.process.protocol import SCHEMA_PARAM

pytestmark = [pytest.mark.model, pytest.mark.slow]

Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]

EXAMPLES = 30  # per operation and mode
# Generated requests may ask for up to 1,000,000 tokens, or leave the number open (until
# the context is full): the document allows it, but the run would take hours.
FUZZ_TOKENS = 2
# Valid requests the engine may still refuse, for what the schema cannot express: a
# prompt longer than the context, token ids the vocabulary lacks, messages the model's
# chat template raises on (Gemma's wants user and assistant turns in turn).
VALUES_REFUSED_BY_MEANING = {SCHEMA_PARAM, "dimensions"}
REFUSALS_OF_VALID_DATA = {
    (400, "context_length_exceeded"),
    (400, "invalid_prompt"),
    (422, "chat_template_error"),
}
COMPLETION_PATHS = ("/v1/chat/completions", "/v1/completions")
EMBEDDINGS_PATH = "/v1/embeddings"
FUZZ_INPUTS = 2  # texts per generated embeddings request (the document allows 2,048)
FUZZ_CHARS = 64  # characters of each


@pytest.fixture(scope="module")
def operations(session_engine: EngineEndpoint) -> list[Operation]:
    # No key: the document is open.
    schema = schemathesis.openapi.from_url(f"{session_engine.base_url}/openapi.json", timeout=30)
    schema.validate()
    results = list(schema.get_all_operations())
    found = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(found) == len(results), "schemathesis could not read some operations"
    assert {operation.path for operation in found} == {
        "/health",
        "/v1/models",
        EMBEDDINGS_PATH,
        *COMPLETION_PATHS,
    }
    return found


def _bound_tokens(case: AnyCase) -> None:
    """Few tokens per generated completion; a value the document refuses is left as it is."""
    body = case.body
    if case.path not in COMPLETION_PATHS or not isinstance(body, dict):
        return
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        # JSON has no integer type of its own: 999999.0 is a valid max_tokens too.
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and float(value).is_integer()
            and FUZZ_TOKENS < value <= 1_000_000
        ):
            body[name] = FUZZ_TOKENS
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
        body["max_tokens"] = FUZZ_TOKENS


def _bound_inputs(case: AnyCase) -> None:
    """Few, short texts per generated embeddings request (the document allows enough to
    take minutes each); a value of a type the document refuses is left as it is."""
    body = case.body
    if case.path != EMBEDDINGS_PATH or not isinstance(body, dict):
        return
    value = body.get("input")
    if isinstance(value, str):
        body["input"] = value[:FUZZ_CHARS]
    elif isinstance(value, list):
        body["input"] = [
            item[:FUZZ_CHARS] if isinstance(item, str | list) else item
            for item in value[:FUZZ_INPUTS]
        ]


def _fuzz(operation: Operation, mode: GenerationMode, check: Callable[[AnyCase], None]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: AnyCase) -> None:
        _bound_tokens(case)
        _bound_inputs(case)
        check(case)

    run()


def _modes(operation: Operation) -> list[GenerationMode]:
    # An operation without parameters or a body has no invalid input to generate.
    return list(GenerationMode) if operation.method == "post" else [GenerationMode.POSITIVE]


def _error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _assert_healthy(endpoint: EngineEndpoint) -> None:
    assert httpx.get(f"{endpoint.base_url}/health", timeout=10).json() == {"status": "ok"}
    reply = httpx.post(
        f"{endpoint.base_url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
        headers={"Authorization": f"Bearer {endpoint.token}"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"]


def test_fuzzing_with_the_key_finds_nothing(
    session_engine: EngineEndpoint, operations: list[Operation]
) -> None:
    headers = {"Authorization": f"Bearer {session_engine.token}"}

    def check(case: AnyCase) -> None:
        # positive_data_acceptance wants 2xx for every valid request; the assertion below
        # names the refusals of valid data the engine may give instead.
        response = case.call_and_validate(
            headers=headers, timeout=60, excluded_checks=[positive_data_acceptance]
        )
        assert case.meta is not None
        if case.meta.generation.mode.is_positive and response.status_code >= 300:
            refusal = (response.status_code, _error_code(response))
            if refusal == (400, "invalid_value"):
                # What the document cannot say, refused naming the field (each documented
                # in its route's 400): a valid JSON Schema the engine cannot turn into a
                # grammar; embeddings of another size than the model's.
                param = response.json()["error"]["param"]
                assert param in VALUES_REFUSED_BY_MEANING, (case.body, response.text)
                return
            assert refusal in REFUSALS_OF_VALID_DATA, (case.body, response.text)

    for operation in operations:
        for mode in _modes(operation):
            _fuzz(operation, mode, check)
    _assert_healthy(session_engine)


def test_fuzzing_without_a_key_gets_401_everywhere_but_health(
    session_engine: EngineEndpoint, operations: list[Operation]
) -> None:
    def check(case: AnyCase) -> None:
        response = case.call_and_validate(timeout=60)
        expected = 200 if case.path == "/health" else 401
        assert response.status_code == expected, (case.path, response.text)
        if expected == 401:
            assert _error_code(response) == "invalid_api_key"

    for operation in operations:
        for mode in _modes(operation):
            _fuzz(operation, mode, check)
    _assert_healthy(session_engine)
