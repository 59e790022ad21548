"""Request bodies of the engine API, validated with bounds (pydantic).

Numbers are bounded so that a hostile or buggy client gets a 400, never a crash,
a hang or an allocation the machine cannot afford.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_STOP_STRINGS = 8
MAX_STOP_LENGTH = 256
MAX_MESSAGES = 10_000
MAX_TEMPLATE_CHARS = 64 * 1024

Finite = Annotated[float, Field(allow_inf_nan=False)]


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


class SamplingFields(BaseModel):
    """Fields shared by chat and text completions, with the defaults llama.cpp users expect."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    temperature: Annotated[Finite, Field(ge=0.0, le=5.0)] = 0.8
    top_p: Annotated[Finite, Field(ge=0.0, le=1.0)] = 0.95
    top_k: Annotated[int, Field(ge=0, le=100_000)] = 40
    min_p: Annotated[Finite, Field(ge=0.0, le=1.0)] = 0.05
    repeat_penalty: Annotated[Finite, Field(gt=0.0, le=10.0)] = 1.0
    presence_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] = 0.0
    frequency_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] = 0.0
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    stop: str | list[str] | None = None
    seed: Annotated[int, Field(ge=-1, le=2**32 - 1)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        items = [value] if isinstance(value, str) else (value or [])
        if len(items) > MAX_STOP_STRINGS:
            raise ValueError(f"at most {MAX_STOP_STRINGS} stop strings are allowed")
        if any(len(item) > MAX_STOP_LENGTH for item in items):
            raise ValueError(f"a stop string may have at most {MAX_STOP_LENGTH} characters")
        return value

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        items = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return [item for item in items if item]

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def continuous_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.continuous_usage_stats)


class ChatCompletionRequest(SamplingFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]


class CompletionRequest(SamplingFields):
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


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, Field(min_length=1, max_length=4096)]
    n_ctx: Annotated[int, Field(ge=128, le=1_048_576)] = 4096
    n_gpu_layers: Annotated[int, Field(ge=-1, le=10_000)] = 0
    n_threads: Annotated[int, Field(ge=1, le=1024)] | None = None
    chat_template: Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)] | None = None
    alias: Annotated[str, Field(max_length=256)] | None = None
    stream: bool = False


def error_body(
    message: str, *, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
