"""Bodies of the engine API: the contract's options plus the HTTP wire's extras.

The fields and bounds of loading and sampling come from core/engine/contract.py. The
response models at the end describe what the server sends, for the OpenAPI document;
the routes build the same shapes as plain dicts (tests/integration check the two agree).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema, model_validator

from llmos_desktop.core.engine.contract import (
    MAX_STOP_LENGTH,
    MAX_STOP_STRINGS,
    ErrorKind,
    Int,
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
