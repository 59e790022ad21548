"""``response_format`` on the real engine: replies in JSON, held to a JSON Schema by a grammar.

Judged by programs no one here wrote: the official openai client sends the requests (and
its own structured-output helper builds one from a pydantic model), ``json`` parses the
replies and jsonschema validates them against the schema that was sent. Both test models
answer: Gemma 3 270M base (no chat template, a 262,144-token vocabulary) and the
SmolLM2-135M-Instruct starter. Every schema here bounds its strings, numbers and arrays,
so a complete reply fits the token limit and the grammar leaves the model nothing but
the end of the reply once the JSON is done: each reply must end by itself (``stop``).

Hostile schemas (deep, huge, exponential to convert, bigger than the body limit) must be
refused quickly with an OpenAI-style 400, and the engine must go on serving. Their time
bounds are loose on purpose (the engine's own limit is 2 s of conversion): they catch a
hang, not a slow machine.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from llmos_desktop.core.engine.contract import ModelLoad, SamplingOptions
from llmos_desktop.core.engine.control.client import ChatResult, EngineAPIError
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineEndpoint, EngineSupervisor
from tests.helpers.engine import TEST_THREADS, load_model

pytestmark = pytest.mark.model

SCHEMA_PARAM = "response_format.json_schema.schema"
# Far above the engine's own 2 s limit on building a grammar: only a hang fails it.
HANG_S = 30.0

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 16},
        "age": {"type": "integer"},
        "colour": {"enum": ["red", "green", "blue"]},
        "hobbies": {
            "type": "array",
            "items": {"type": "string", "maxLength": 12},
            "minItems": 1,
            "maxItems": 2,
        },
        "postcode": {"type": "string", "pattern": r"^\d{5}$"},
        "nickname": {"anyOf": [{"type": "string", "maxLength": 8}, {"type": "null"}]},
        "born": {"type": "string", "format": "date"},
        # A constant JSON must escape: the grammar has to write it back exactly.
        "motto": {"const": 'a "b" \\ c'},
    },
    "required": ["name", "age", "colour", "hobbies", "postcode", "nickname", "born", "motto"],
    "additionalProperties": False,
}
ASK_PERSON = [
    {"role": "system", "content": "You reply with JSON only."},
    {"role": "user", "content": "Describe a fictional person as JSON."},
]


def _person_format(schema: dict[str, Any] = PERSON, *, strict: bool = True) -> Any:
    return {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": strict},
    }


def _client(endpoint: EngineEndpoint) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{endpoint.base_url}/v1", api_key=endpoint.token, max_retries=0)


@pytest.fixture(scope="module")
def smol_endpoint(
    chat_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineEndpoint]:
    """An engine with the starter (SmolLM2-135M-Instruct) loaded."""
    log = tmp_path_factory.mktemp("engine-json") / "engine.log"
    supervisor = EngineSupervisor(log_path=log, ready_timeout=60)
    endpoint = supervisor.start()
    try:
        load_model(endpoint, chat_model_path)
        yield endpoint
    finally:
        supervisor.stop()


@pytest.fixture(scope="module")
def gemma(session_engine: EngineEndpoint) -> Iterator[openai.OpenAI]:
    with _client(session_engine) as client:
        yield client


@pytest.fixture(scope="module")
def smol(smol_endpoint: EngineEndpoint) -> Iterator[openai.OpenAI]:
    with _client(smol_endpoint) as client:
        yield client


@pytest.fixture(params=["gemma", "smol"])
def client(request: pytest.FixtureRequest) -> openai.OpenAI:
    """The openai client of an engine with either test model."""
    chosen: openai.OpenAI = request.getfixturevalue(request.param)
    return chosen


def _assert_follows(text: str | None, schema: dict[str, Any]) -> Any:
    assert text is not None
    value = json.loads(text)  # strict: a raw control character in a string fails here
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
    return value


def _assert_serving(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0
    )
    assert reply.choices[0].message.content


# --- replies that follow the schema --------------------------------------------------------


def test_a_json_schema_reply_parses_and_follows_the_schema(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="x",
        messages=ASK_PERSON,  # type: ignore[arg-type]
        max_tokens=400,
        temperature=0,
        response_format=_person_format(),
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    person = _assert_follows(choice.message.content, PERSON)
    assert person["motto"] == 'a "b" \\ c'
    assert reply.model_extra is not None and reply.model_extra["llmos"]["stopped_by"] == "stop"


def test_a_streamed_reply_is_one_valid_document_equal_to_the_whole(
    client: openai.OpenAI,
) -> None:
    args: dict[str, Any] = {
        "model": "x",
        "messages": ASK_PERSON,
        "max_tokens": 400,
        "temperature": 0,
        "response_format": _person_format(),
    }
    chunks = list(client.chat.completions.create(stream=True, **args))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    _assert_follows(text, PERSON)
    whole = client.chat.completions.create(**args).choices[0].message.content
    assert text == whole


def test_sampled_replies_stay_valid_json(gemma: openai.OpenAI) -> None:
    """Hot sampling from the base model over its whole vocabulary: strings without limits
    on their characters, a `.` pattern and a negated class must still make valid JSON (no
    raw newline, quote or backslash inside a string) whatever the model picks."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "free": {"type": "string", "maxLength": 16},
            "dotted": {"type": "string", "pattern": "^.{3,16}$"},
            "no_comma": {"type": "string", "pattern": "[^,]{3,16}"},
            "escapes": {"enum": ["a\\b", 'x"y', "tab\there", "line\nbreak"]},
        },
        "required": ["free", "dotted", "no_comma", "escapes"],
        "additionalProperties": False,
    }
    texts = set()
    for seed in (1, 2, 3):
        reply = gemma.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": 'Write "quotes", \\ backslashes,\n\tand tabs.'}],
            max_tokens=300,
            temperature=1.8,
            top_p=1.0,
            seed=seed,
            response_format=_person_format(schema),
            extra_body={"top_k": 0, "min_p": 0.0},
        )
        assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
        value = _assert_follows(reply.choices[0].message.content, schema)
        assert "," not in value["no_comma"]
        texts.add(reply.choices[0].message.content)
    assert len(texts) > 1, "the seeds should give different replies"


def test_a_json_object_reply_is_a_json_object(smol: openai.OpenAI) -> None:
    reply = smol.chat.completions.create(
        model="x",
        messages=[
            {"role": "user", "content": "Reply with a JSON object with two keys: name and age."}
        ],
        max_tokens=200,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
    value = json.loads(reply.choices[0].message.content or "")
    assert isinstance(value, dict) and value, value


def test_a_text_response_format_changes_nothing(smol: openai.OpenAI) -> None:
    args: dict[str, Any] = {
        "model": "x",
        "messages": ASK_PERSON,
        "max_tokens": 24,
        "temperature": 0,
    }
    plain = smol.chat.completions.create(**args).choices[0].message.content
    text = smol.chat.completions.create(**args, response_format={"type": "text"})
    assert text.choices[0].message.content == plain


def test_text_completions_take_a_response_format(gemma: openai.OpenAI) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "capital": {"type": "string", "maxLength": 30},
            "population": {"type": "integer"},
        },
        "required": ["capital", "population"],
    }
    # The completions API has no response_format parameter in the client: an extra field.
    reply = gemma.completions.create(
        model="x",
        prompt="France as JSON, with its capital and population: ",
        max_tokens=120,
        temperature=0,
        extra_body={"response_format": _person_format(schema)},
    )
    assert reply.choices[0].finish_reason == "stop"
    _assert_follows(reply.choices[0].text, schema)
    streamed = gemma.completions.create(
        model="x",
        prompt="France as JSON, with its capital and population: ",
        max_tokens=120,
        temperature=0,
        stream=True,
        extra_body={"response_format": _person_format(schema)},
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == reply.choices[0].text


class Ingredient(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=20)
    grams: int


class Recipe(pydantic.BaseModel):
    title: str = pydantic.Field(max_length=40)
    vegetarian: bool
    ingredients: list[Ingredient] = pydantic.Field(min_length=1, max_length=4)


def test_the_openai_structured_output_helper_gets_its_model(smol: openai.OpenAI) -> None:
    """The client's own helper: a strict schema from a pydantic model, with $defs and $ref,
    and the reply parsed back into the model."""
    reply = smol.chat.completions.parse(
        model="x",
        messages=[{"role": "user", "content": "A recipe for a pancake, as JSON."}],
        max_tokens=400,
        temperature=0,
        response_format=Recipe,
    )
    recipe = reply.choices[0].message.parsed
    assert isinstance(recipe, Recipe) and recipe.ingredients


# --- refused schemas -------------------------------------------------------------------


def _exponential_refs(steps: int = 24) -> dict[str, Any]:
    """1.7 KB that llama-cpp-python's converter needs 2**steps steps for: each definition
    names the next one twice, under names that are not valid rule names."""
    defs: dict[str, Any] = {
        f"d_{i}": {"anyOf": [{"$ref": f"#/$defs/d_{i + 1}"}, {"$ref": f"#/$defs/d_{i + 1}"}]}
        for i in range(steps)
    }
    defs[f"d_{steps}"] = {"type": "integer"}
    return {"type": "object", "properties": {"x": {"$ref": "#/$defs/d_0"}}, "$defs": defs}


def _nested(levels: int) -> str:
    """A schema of arrays in arrays, as JSON text (too deep for json.dumps to write)."""
    return '{"type": "array", "items": ' * levels + '{"type": "integer"}' + "}" * levels


INVALID: dict[str, dict[str, Any]] = {
    "not JSON Schema": {"type": "strin"},
    "remote reference (never fetched)": {
        "type": "object",
        "properties": {"a": {"$ref": "https://schemas.invalid/evil.json"}},
    },
    "a false schema required": {
        "type": "object",
        "properties": {"a": False},
        "required": ["a"],
    },
    "lookahead in a pattern": {"type": "string", "pattern": "^(?=a).+$"},
    "a pattern that needs a quote": {"type": "string", "pattern": '^say "hi"$'},
    "maxLength below minLength": {"type": "string", "minLength": 5, "maxLength": 2},
    "required but not allowed": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["b"],
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_a_schema_it_cannot_follow_is_a_400(gemma: openai.OpenAI, name: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        gemma.chat.completions.create(
            model="x",
            messages=ASK_PERSON,  # type: ignore[arg-type]
            max_tokens=8,
            response_format=_person_format(INVALID[name], strict=False),
        )
    assert refused.value.code == "invalid_value"
    body = refused.value.body
    assert isinstance(body, dict) and body["param"] == SCHEMA_PARAM, body
    assert body["message"].startswith("response_format:") and "\n" not in body["message"]
    _assert_serving(gemma)


def test_strict_refuses_what_the_grammar_cannot_enforce(gemma: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}}
    with pytest.raises(openai.BadRequestError) as refused:
        gemma.chat.completions.create(
            model="x",
            messages=ASK_PERSON,  # type: ignore[arg-type]
            max_tokens=8,
            response_format=_person_format(schema, strict=True),
        )
    assert refused.value.code == "invalid_value" and "minimum" in refused.value.message
    # Not strict: the rest of the schema is followed, `minimum` is left out.
    relaxed = {**schema, "required": ["n"], "additionalProperties": False}
    reply = gemma.chat.completions.create(
        model="x",
        messages=ASK_PERSON,  # type: ignore[arg-type]
        max_tokens=60,
        temperature=0,
        response_format=_person_format(relaxed, strict=False),
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert set(value) == {"n"} and isinstance(value["n"], int)


def test_bad_response_format_shapes_are_400_with_param(session_engine: EngineEndpoint) -> None:
    cases = [
        ({"type": "json_schema"}, "response_format"),
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema", "json_schema": {"name": "has space"}}, "response_format.json_schema.name"),
        ({"type": "json_schema", "json_schema": {"schema": []}}, SCHEMA_PARAM),
        ({"type": "json_schema", "json_schema": {"schema": {}, "strict": "yes"}}, "response_format.json_schema.strict"),
    ]  # fmt: skip
    with httpx.Client(
        base_url=session_engine.base_url,
        headers={"Authorization": f"Bearer {session_engine.token}"},
        timeout=60,
        trust_env=False,
    ) as http:
        for response_format, param in cases:
            response = http.post(
                "/v1/chat/completions",
                json={"messages": ASK_PERSON, "max_tokens": 2, "response_format": response_format},
            )
            assert response.status_code == 400, response_format
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("invalid_value", param), error


HOSTILE: dict[str, tuple[dict[str, Any] | str, str | None]] = {
    "nested 40 levels": (_nested(40), "nested more than"),
    "nested 100,000 levels": (_nested(100_000), None),  # deeper than the JSON parser goes
    "100,000 enum values": ({"enum": list(range(100_000))}, "more than 4096 values"),
    "501 enum values": ({"enum": [f"v{i}" for i in range(501)]}, "enum values"),
    "600 anyOf branches": ({"anyOf": [{"const": i} for i in range(600)]}, "anyOf branches"),
    "exponential references": (_exponential_refs(), "longer than 2 s"),
    "maxLength of a billion": ({"type": "string", "maxLength": 10**9}, "maxLength"),
    "7 MB of text": ({"type": "string", "description": "x" * 7_000_000}, "characters"),
    "500 nested groups in a pattern": (
        {"type": "string", "pattern": "(" * 500 + "a" + ")" * 500},
        "nested too deeply",
    ),
    "a pattern of 20,000 characters": (
        {"type": "string", "pattern": "a" * 20_000},
        "longer than 1000",
    ),
    "300 optional properties": (
        {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(300)}},
        "optional properties",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_schemas_are_refused_quickly(
    session_engine: EngineEndpoint, gemma: openai.OpenAI, name: str
) -> None:
    schema, words = HOSTILE[name]
    schema_text = schema if isinstance(schema, str) else json.dumps(schema)
    request = {"messages": ASK_PERSON, "max_tokens": 8, "response_format": _person_format({})}
    body = json.dumps(request).replace("{}", schema_text).encode()
    started = time.monotonic()
    response = httpx.post(
        f"{session_engine.base_url}/v1/chat/completions",
        content=body,
        headers={
            "Authorization": f"Bearer {session_engine.token}",
            "Content-Type": "application/json",
        },
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 400, response.text[:500]
    error = response.json()["error"]
    assert error["message"] and len(error["message"]) < 1000
    if words is not None:
        assert error["param"] == SCHEMA_PARAM and words in error["message"], error
    assert elapsed < HANG_S, f"{name}: refused after {elapsed:.1f} s"
    _assert_serving(gemma)


def test_a_schema_beyond_the_body_limit_is_413(gemma: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        gemma.chat.completions.create(
            model="x",
            messages=ASK_PERSON,  # type: ignore[arg-type]
            max_tokens=8,
            response_format=_person_format({"enum": ["x" * 1000] * 10_000}),
        )
    assert refused.value.status_code == 413
    _assert_serving(gemma)


# --- the app's side: Engine.stream_chat passes it through -------------------------------


def test_the_engine_service_passes_response_format(chat_model_path: Path, tmp_path: Path) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    spec = ModelLoad(path=str(chat_model_path), n_ctx=2048, n_threads=TEST_THREADS)
    sampling = SamplingOptions(max_tokens=400, temperature=0)

    async def scenario() -> None:
        try:
            async for _event in engine.load(spec):
                pass
            result = ChatResult()
            pieces = [
                delta.text
                async for delta in engine.stream_chat(
                    ASK_PERSON, result, sampling=sampling, response_format=_person_format()
                )
            ]
            assert result.finish_reason == "stop" and result.stopped_by == "stop"
            _assert_follows("".join(pieces), PERSON)

            with pytest.raises(EngineAPIError) as refused:
                async for _delta in engine.stream_chat(
                    ASK_PERSON, sampling=sampling, response_format=_person_format({"type": 3})
                ):
                    pass
            assert refused.value.status == 400 and refused.value.code == "invalid_value"
        finally:
            await engine.close()

    asyncio.run(scenario())


# --- schemas made up by hypothesis --------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c_d", "e.f", "g h", 'q"uote', "back\\slash", "ü"])
_PATTERN = st.one_of(
    st.sampled_from(
        [
            *(r"^\d{3}-\d{4}$", "[a-z]+", "^(?=a)", "a{2,5}", ".*", "[^,]+", "(a|b)*c"),
            *(r"\w+@\w+\.com", r"^[\x00-\x7F]+$", "(((a)))", "x{1001}", '"', r"\\"),
            *('["-#]', r"\bword", "(a)\\1"),
        ]
    ),
    st.text(alphabet="ab09^$.*+?()[]{}|\\-,dws:\"'", max_size=12),
)
_COUNT = st.one_of(st.integers(0, 40), st.sampled_from([1000, 1001, 10**9]))
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6))
_TYPE = st.sampled_from(["object", "array", "string", "number", "integer", "boolean", "null"])


def _schemas() -> st.SearchStrategy[Any]:
    """Made-up JSON Schemas: the keywords the grammar follows, some it does not, wrong
    values, references to places that exist and places that do not."""

    def node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        keywords: dict[str, st.SearchStrategy[Any]] = {
            "type": st.one_of(_TYPE, st.lists(_TYPE, min_size=1, max_size=3, unique=True)),
            "properties": st.dictionaries(_NAMES, children, max_size=3),
            "required": st.lists(_NAMES, max_size=3, unique=True),
            "additionalProperties": st.one_of(st.booleans(), children),
            "items": children,
            "prefixItems": st.lists(children, min_size=1, max_size=2),
            "minItems": _COUNT,
            "maxItems": _COUNT,
            "minLength": _COUNT,
            "maxLength": _COUNT,
            "pattern": _PATTERN,
            "format": st.sampled_from(["date", "time", "date-time", "uuid", "email"]),
            "enum": st.lists(_SCALAR, max_size=4),
            "const": _SCALAR,
            "anyOf": st.lists(children, min_size=1, max_size=3),
            "oneOf": st.lists(children, min_size=1, max_size=2),
            "allOf": st.lists(children, min_size=1, max_size=2),
            "$ref": st.sampled_from(["#/$defs/a", "#/$defs/b", "#/properties/a", "#", "#/nowhere"]),
            "$defs": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2),
            "minimum": st.integers(),
            "not": children,
            "title": st.text(max_size=5),
        }
        return st.fixed_dictionaries({}, optional=keywords)  # each keyword present or not

    leaves = st.one_of(st.sampled_from([True, False, {}]), node(st.just({})))
    return st.recursive(leaves, node, max_leaves=12)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(schema=_schemas(), strict=st.booleans())
def _made_up_schema(http: httpx.Client, outcomes: list[str], schema: Any, strict: bool) -> None:
    if not isinstance(schema, dict):
        schema = {"anyOf": [schema]}
    response = http.post(
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 3,
            "response_format": _person_format(schema, strict=strict),
        },
    )
    if response.status_code == 200:
        outcomes.append("followed")
        return
    assert response.status_code == 400, (schema, response.text)
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_value", SCHEMA_PARAM), (schema, error)
    outcomes.append("refused")


def test_made_up_schemas_are_followed_or_refused_never_a_failure(
    session_engine: EngineEndpoint, gemma: openai.OpenAI
) -> None:
    """Whatever a client sends as a schema: a reply (200) or a 400 naming the schema, never
    a 5xx, a hang or a dead engine."""
    outcomes: list[str] = []
    with httpx.Client(
        base_url=session_engine.base_url,
        headers={"Authorization": f"Bearer {session_engine.token}"},
        timeout=HANG_S,
        trust_env=False,
    ) as http:
        _made_up_schema(http, outcomes)
    assert "followed" in outcomes and "refused" in outcomes, outcomes
    _assert_serving(gemma)


# --- the sampler: the same picks as llama-cpp-python's own grammar sampling ---------------


@pytest.mark.slow
@pytest.mark.timeout(900)  # two grammar-constrained generations: minutes on 2 busy cores
def test_greedy_picks_are_those_of_the_grammar_applied_first(chat_model_path: Path) -> None:
    """GrammarSampler looks at the whole vocabulary only when the likeliest tokens all break
    the grammar; at temperature 0 it must still pick, token for token, what llama-cpp-
    python's own sampling (the grammar applied to every token first) picks. In this process:
    the two are compared on one model."""
    from llama_cpp.llama_grammar import LlamaGrammar

    from llmos_desktop.core.engine.process import llama_api

    llm = llama_api.open_model(
        str(chat_model_path),
        n_ctx=1024,
        n_gpu_layers=0,
        n_threads=TEST_THREADS,
        on_progress=lambda _value: None,
        chatter=io.StringIO(),
    )
    try:
        ends = llama_api.TokenText(llm)
        sampling = SamplingOptions(temperature=0)
        prompt = llama_api.tokenize(
            llm,
            "<|im_start|>user\nDescribe a fictional person as JSON.<|im_end|>\n"
            "<|im_start|>assistant\n",
        )

        def picks(generator: Any) -> list[int]:
            tokens: list[int] = []
            try:
                for token in generator:
                    tokens.append(token)
                    if ends.is_end(token) or len(tokens) >= 120:
                        break
            finally:
                generator.close()
            return tokens

        for schema in (PERSON, None):
            grammar = llama_api.json_grammar(schema)
            ours = picks(llama_api.generate(llm, prompt, sampling, grammar))
            theirs = picks(
                llm.generate(
                    prompt,
                    grammar=LlamaGrammar.from_string(grammar),
                    **llama_api.sampling_args(sampling),
                )
            )
            assert ours == theirs, (llm.detokenize(ours), llm.detokenize(theirs))
            assert ends.is_end(ours[-1]), "the reply should end by itself"
            if schema is not None:
                _assert_follows(llm.detokenize(ours[:-1]).decode(), schema)
    finally:
        llm.close()
