"""Request bodies of the engine API: the contract's options plus the HTTP wire's extras.

The fields and bounds of loading and sampling come from core/engine/contract.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmos_desktop.core.engine.contract import ErrorKind, ModelLoad, SamplingOptions

MAX_MESSAGES = 10_000


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
    include_usage: bool = False
    # vLLM's extension: usage (tokens so far) in every chunk, so a client can count tokens
    # even though one chunk may carry several.
    continuous_usage_stats: bool = False


class CompletionFields(SamplingOptions):
    """Fields shared by chat and text completions: the sampling options plus OpenAI's extras."""

    model_config = ConfigDict(extra="ignore", frozen=False)

    model: str | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def continuous_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.continuous_usage_stats)


class ChatCompletionRequest(CompletionFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]


class CompletionRequest(CompletionFields):
    prompt: str | list[str] | list[int]
    echo: bool = False

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

    stream: bool = False


def error_body(
    message: str, *, type_: str, code: ErrorKind | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
