"""Bodies of the engine API: the contract's options plus the HTTP wire's extras.

The fields and bounds of loading and sampling come from core/engine/contract.py. The
response models at the end describe what the server sends, for the OpenAPI document;
the routes build the same shapes as plain dicts (tests/integration check the two agree).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from llmos_desktop.core.engine.contract import (
    MAX_STOP_LENGTH,
    MAX_STOP_STRINGS,
    ErrorKind,
    Int,
    JsonNumbers,
    ModelLoad,
    SamplingOptions,
)

MAX_MESSAGES = 10_000

# What the validators below accept, for the OpenAPI document: the types alone say less
# (a union of lists cannot carry "one string" or "not empty" in a way pydantic reports
# well, so the validators check it and these schemas say it).
_STOP_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_STOP_LENGTH},
        {
            "type": "array",
            "items": {"type": "string", "maxLength": MAX_STOP_LENGTH},
            "maxItems": MAX_STOP_STRINGS,
        },
        {"type": "null"},
    ],
    "title": "Stop",
    "description": "text that ends the reply when generated (not included in it)",
}
_PROMPT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
    ],
    "title": "Prompt",
    "description": "the prompt: text, a list of one text, or token ids",
}


# --- response_format: replies in JSON (OpenAI's JSON mode and structured outputs) --------
# A JSON Schema in a request is hostile input like any other: before anything reads it
# for its meaning (jsonschema's check, the grammar built from it, both on the engine's
# worker under a time limit), its shape is bounded here, in one cheap pass that stops
# at the first excess. OpenAI's own limits (5,000 properties, 10 levels of nesting,
# 120,000 characters of names and values) are for its servers; these fit a grammar that
# a desktop builds in well under a second.
MAX_SCHEMA_DEPTH = 32  # objects and arrays inside each other, the schema itself included
MAX_SCHEMA_NODES = 4_096  # values of the schema document: objects, arrays and scalars
MAX_SCHEMA_CHARS = 65_536  # characters of its keys and strings together
SCHEMA_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # OpenAI's rule for json_schema.name
SCHEMA_PARAM = "response_format.json_schema.schema"


def schema_bounds_problem(schema: object) -> str | None:
    """What makes ``schema`` (parsed JSON) too big or too deep to read, or None.

    Walks without recursion and stops at the first bound passed, so a hostile document
    costs at most MAX_SCHEMA_NODES steps.
    """
    stack: list[tuple[object, int]] = [(schema, 1)]
    nodes = chars = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            return f"the schema has more than {MAX_SCHEMA_NODES} values"
        if isinstance(value, dict | list):
            if depth > MAX_SCHEMA_DEPTH:
                return f"the schema is nested more than {MAX_SCHEMA_DEPTH} levels deep"
            if isinstance(value, dict):
                for key, item in value.items():
                    chars += len(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            chars += len(value)
        if chars > MAX_SCHEMA_CHARS:
            return f"the schema holds more than {MAX_SCHEMA_CHARS} characters of names and text"
    return None


class JsonSchemaSpec(BaseModel):
    """``response_format.json_schema``: OpenAI's structured outputs."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: Annotated[str, Field(pattern=SCHEMA_NAME_PATTERN)] | None = None
    description: Annotated[str, Field(max_length=MAX_SCHEMA_CHARS)] | None = None
    # "schema" would shadow a BaseModel attribute: the field has another name.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None

    @field_validator("schema_")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = schema_bounds_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ResponseFormat(BaseModel):
    """``response_format``: `text` (no constraint), `json_object` (any JSON object) or
    `json_schema` (JSON that follows the schema). The reply is constrained by a grammar."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_for_json_schema(cls, data: Any) -> Any:
        # `json_schema` means something with `json_schema` only; elsewhere it is ignored,
        # like any other field this server does not know.
        if isinstance(data, dict) and data.get("type") != "json_schema":
            return {key: value for key, value in data.items() if key != "json_schema"}
        return data

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("`json_schema` is required when `type` is `json_schema`")
        return self

    def constrains(self) -> bool:
        return self.type != "text"

    def schema_value(self) -> dict[str, Any] | None:
        """The JSON Schema the reply follows; None for any JSON object."""
        if self.type == "json_schema" and self.json_schema is not None:
            return self.json_schema.schema_
        return None

    def is_strict(self) -> bool:
        return bool(self.type == "json_schema" and self.json_schema and self.json_schema.strict)


# The document cannot say which JSON Schemas a grammar can be built from; it says the
# shapes (one object per type), so that a client (and schemathesis) sends each whole.
_RESPONSE_FORMAT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "title": "ResponseFormatText",
            "properties": {"type": {"type": "string", "enum": ["text"]}},
            "required": ["type"],
        },
        {
            "type": "object",
            "title": "ResponseFormatJsonObject",
            "properties": {"type": {"type": "string", "enum": ["json_object"]}},
            "required": ["type"],
        },
        {
            "type": "object",
            "title": "ResponseFormatJsonSchema",
            "properties": {
                "type": {"type": "string", "enum": ["json_schema"]},
                "json_schema": {
                    "type": "object",
                    "title": "JsonSchemaSpec",
                    "properties": {
                        "name": {"type": "string", "pattern": SCHEMA_NAME_PATTERN},
                        "description": {"type": "string", "maxLength": MAX_SCHEMA_CHARS},
                        "schema": {
                            "type": "object",
                            "description": (
                                "A JSON Schema (2020-12). Without one: any JSON object. At "
                                f"most {MAX_SCHEMA_NODES} values, {MAX_SCHEMA_DEPTH} levels "
                                f"and {MAX_SCHEMA_CHARS} characters of names and text."
                            ),
                        },
                        "strict": {
                            "type": "boolean",
                            "description": (
                                "Refuse (400) a schema with assertions the grammar cannot "
                                "enforce (minimum, uniqueItems, not, ...), instead of "
                                "leaving them out of the grammar."
                            ),
                        },
                    },
                },
            },
            "required": ["type", "json_schema"],
        },
        {"type": "null"},
    ],
    "title": "Response Format",
    "description": (
        "`json_object`: the reply is a JSON object; `json_schema`: JSON that follows the "
        "schema (a grammar constrains generation); `text`: no constraint. A schema that is "
        "not valid JSON Schema, or one no grammar can be built from, is a 400 "
        "(`invalid_value`, `param` `response_format.json_schema.schema`)."
    ),
}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: StrictBool = False
    # vLLM's extension: usage (tokens so far) in every chunk, so a client can count tokens
    # even though one chunk may carry several.
    continuous_usage_stats: StrictBool = False


class CompletionFields(SamplingOptions):
    """Fields shared by chat and text completions: the sampling options plus OpenAI's extras."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    model: str | None = None
    stop: Annotated[str | list[str] | None, WithJsonSchema(_STOP_SCHEMA)] = None
    max_completion_tokens: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: Annotated[Int, Field(ge=1, le=1)] = 1
    response_format: Annotated[ResponseFormat | None, WithJsonSchema(_RESPONSE_FORMAT_SCHEMA)] = (
        None
    )

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def continuous_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.continuous_usage_stats)


class ChatCompletionRequest(CompletionFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    # Our extensions (OpenAI clients send them as extra body fields).
    truncate: Literal["none", "oldest"] = Field(
        default="none",
        description=(
            "What to do with a conversation the context cannot hold. `none`: refuse it "
            "(`context_length_exceeded`). `oldest`: drop the oldest messages (whole "
            "messages; every system message and the last user message are kept) until "
            "the prompt and a reserve for the reply fit; `llmos.dropped_messages` says "
            "how many were dropped. An LLMOS extension."
        ),
    )
    continue_final_message: StrictBool = Field(
        default=False,
        description=(
            "The last message is the start of the assistant's reply (its role must be "
            "`assistant`, else `invalid_prompt`): the model continues it, and the reply "
            "holds only the continuation. An LLMOS extension."
        ),
    )

    def truncates(self) -> bool:
        return self.truncate == "oldest"


class CompletionRequest(CompletionFields):
    prompt: Annotated[str | list[str] | list[int], WithJsonSchema(_PROMPT_SCHEMA)]
    echo: StrictBool = False

    @model_validator(mode="after")
    def _one_prompt(self) -> CompletionRequest:
        prompt = self.prompt
        if isinstance(prompt, list):
            if not prompt:
                raise ValueError("prompt must not be empty")
            if isinstance(prompt[0], str) and len(prompt) != 1:
                raise ValueError("only one prompt per request is supported (n=1)")
        return self

    def prompt_value(self) -> str | list[int]:
        prompt = self.prompt
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
            return str(prompt[0])
        return prompt  # type: ignore[return-value]


# --- embeddings ---------------------------------------------------------------------------
# OpenAI's own bounds: at most 2,048 inputs and 300,000 tokens in one request (the tokens
# are counted by the engine, which also holds each input to what its context takes).
MAX_EMBEDDING_INPUTS = 2_048
MAX_EMBEDDING_TOKENS = 300_000
_EMBEDDING_INPUT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "maxItems": MAX_EMBEDDING_INPUTS,
        },
        {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        {
            "type": "array",
            "items": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
            "minItems": 1,
            "maxItems": MAX_EMBEDDING_INPUTS,
        },
    ],
    "title": "Input",
    "description": (
        "what to embed: a text, a list of texts, token ids, or a list of token-id lists "
        f"(at most {MAX_EMBEDDING_INPUTS} inputs and {MAX_EMBEDDING_TOKENS:,} tokens)"
    ),
}


def _json_integer(value: Any) -> Any:
    """5.0 is the integer 5 in JSON (as JSON Schema says); 5.5, "5" and true are not."""
    return int(value) if type(value) is float and value.is_integer() else value


class EmbeddingRequest(JsonNumbers):
    """``POST /v1/embeddings``, as OpenAI's."""

    model_config = ConfigDict(extra="ignore")

    input: Annotated[
        str
        | list[str]
        | list[Annotated[Int, Field(ge=0)]]
        | list[list[Annotated[Int, Field(ge=0)]]],
        WithJsonSchema(_EMBEDDING_INPUT_SCHEMA),
    ]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = Field(
        default="float",
        description="`float`: arrays of numbers; `base64`: little-endian float32 bytes, base64",
    )
    dimensions: Annotated[Int, Field(ge=1, le=1_000_000)] | None = Field(
        default=None,
        description="must equal the model's own size when given (vectors are not shortened)",
    )
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _integral_token_ids(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                [_json_integer(t) for t in item] if isinstance(item, list) else _json_integer(item)
                for item in value
            ]
        return value

    @field_validator("input")
    @classmethod
    def _bounded_input(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be empty")
            return value
        if not value:
            raise ValueError("input must not be an empty list")
        if isinstance(value[0], list | str) and len(value) > MAX_EMBEDDING_INPUTS:
            raise ValueError(f"at most {MAX_EMBEDDING_INPUTS} inputs per request")
        for item in value:
            if (isinstance(item, str | list)) and not item:
                raise ValueError("an input must not be empty")
        return value

    def items(self) -> list[str | list[int]]:
        """Each input: a text or a list of token ids."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if value and isinstance(value[0], int):
            return [list(value)]
        return list(value)  # type: ignore[arg-type]


class LoadRequest(ModelLoad):
    """``POST /control/load``: a ModelLoad, and whether to stream progress events."""

    stream: StrictBool = False


def error_body(
    message: str, *, type_: str, code: ErrorKind | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- what the server sends (for the OpenAPI document) ------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: ErrorKind | None = None


class ErrorResponse(BaseModel):
    """Every error, whichever layer refused the request."""

    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class PromptTokensDetails(BaseModel):
    cached_tokens: int


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class Timings(BaseModel):
    """This server's extra: how fast the reply was made."""

    ttft_s: float | None
    prompt_tokens_per_s: float | None
    tokens_per_s: float | None
    cached_tokens: int


FinishReason = Literal["stop", "length"]


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None


StoppedBy = Literal["stop", "max_tokens", "context"]


class LlmosInfo(BaseModel):
    """This server's extension on every chat reply: how the prompt fit, why the reply ended."""

    n_ctx: int = Field(description="the context size, in tokens")
    prompt_tokens: int = Field(description="tokens of the prompt as evaluated")
    dropped_messages: int = Field(
        description="messages left out of the prompt so that it fits (`truncate: oldest`)"
    )
    stopped_by: StoppedBy = Field(
        description=(
            "`stop`: the model ended its reply or a stop string came; `max_tokens`: the "
            "token limit was reached; `context`: the context was full (`finish_reason` is "
            "`length` for both of the last two)"
        )
    )


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    timings: Timings
    llmos: LlmosInfo


class CompletionChoice(BaseModel):
    index: int
    text: str
    finish_reason: FinishReason
    logprobs: None


class Completion(BaseModel):
    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    timings: Timings


class EmbeddingItem(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(
        description="the vector (L2-normalised), or its float32 bytes in base64"
    )


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"]
    data: list[EmbeddingItem]
    model: str
    usage: EmbeddingUsage
