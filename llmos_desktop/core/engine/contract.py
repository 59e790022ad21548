"""The engine's contract, defined once: load options, sampling options, error kinds.

Settings, the Engine service, the HTTP client, the CLI, the API's request bodies and
the runtime in the engine process all use these classes instead of re-listing their
fields, so a field, its bounds and its default are written in one place. The bounds
are what the API accepts: a hostile or buggy client gets a 400, never a crash, a hang
or an allocation the machine cannot afford. See docs/architecture.md, "The engine
contract".

pydantic is already a dependency (FastAPI's); its cost at window start-up is measured
in docs/architecture.md.
"""

from __future__ import annotations

import enum
import typing
from typing import Annotated, Any

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

MAX_STOP_STRINGS = 8
MAX_STOP_LENGTH = 256
# A chat-template override sent with a load: a request-body bound, below the sandbox's
# own limit on any template's source (core/templates/sandbox.py, MAX_TEMPLATE_CHARS).
MAX_TEMPLATE_OVERRIDE_CHARS = 64 * 1024
MAX_PATH_CHARS = 4096
# RAM the engine keeps for saved conversation prefixes (the prompt cache), by default.
DEFAULT_PROMPT_CACHE_MB = 1024
# Requests one engine serves at once (n_parallel), at most.
MAX_PARALLEL = 16


# Numbers as JSON writes them, nothing looser: pydantic's default (lax) mode would also
# take "5" and true for an integer, and "0.5" or true for a float. Strict floats still
# take integers (temperature: 1). An integer may be written 5.0, never 5.5: JSON Schema
# counts 5.0 as an integer, and so do clients (and schemathesis); see JsonNumbers.
# (Strict() rather than Field(strict=True), and no validator inside the alias: with
# either, the bounds added where the alias is used leave the JSON schema as "ge"/"le"
# instead of "minimum"/"maximum".)
Int = Annotated[int, Strict()]
Finite = Annotated[float, Strict(), AllowInfNan(False)]


class ErrorKind(enum.StrEnum):
    """Why something failed, as a machine-readable code.

    The value is what the API sends as ``error.code`` and what ``EngineFailure.kind``
    and ``ModelFileError.kind`` hold; a StrEnum, so it compares equal to that string.
    """

    # A model file refused before llama.cpp sees it (core/models/gguf).
    MISSING = "missing"
    EMPTY = "empty"
    NOT_GGUF = "not_gguf"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSUPPORTED_ARCHITECTURE = "unsupported_architecture"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    # A load llama.cpp refused (read from its log), or an engine process that died.
    OUT_OF_MEMORY = "out_of_memory"
    CORRUPT_FILE = "corrupt_file"
    LOAD_FAILED = "load_failed"
    KILLED = "killed"
    CRASHED = "crashed"
    STOPPED = "stopped"
    FAILED_TO_START = "failed_to_start"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    # A request the engine refused.
    MODEL_NOT_LOADED = "model_not_loaded"
    INVALID_CHAT_TEMPLATE = "invalid_chat_template"
    CHAT_TEMPLATE_ERROR = "chat_template_error"
    INVALID_PROMPT = "invalid_prompt"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    GENERATION_FAILED = "generation_failed"
    INVALID_VALUE = "invalid_value"
    # The HTTP layer.
    HOST_NOT_ALLOWED = "host_not_allowed"
    INVALID_API_KEY = "invalid_api_key"
    REQUEST_TOO_LARGE = "request_too_large"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    INTERNAL_ERROR = "internal_error"


def _int_only(annotation: Any) -> bool:
    """Whether a field's type is int (or int | None), with no float beside it."""
    args = typing.get_args(annotation)
    if annotation is int:
        return True
    if not args or float in args:
        return False
    return any(_int_only(arg) for arg in args if arg is not type(None))


class JsonNumbers(BaseModel):
    """A model whose integer fields take 5.0 as 5 (before their strict check)."""

    @model_validator(mode="before")
    @classmethod
    def _integral_floats(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            key: int(value)
            if type(value) is float
            and value.is_integer()
            and key in fields
            and _int_only(fields[key].annotation)
            else value
            for key, value in data.items()
        }


class LoadOptions(JsonNumbers):
    """How a model is loaded; Settings keeps the user's defaults in this shape.

    ``json_schema_extra["cli"]`` names the ``llmos serve`` option of each field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_ctx: Annotated[Int, Field(ge=128, le=1_048_576)] = Field(
        4096, description="context size in tokens", json_schema_extra={"cli": "--ctx"}
    )
    n_gpu_layers: Annotated[Int, Field(ge=-1, le=10_000)] = Field(
        0,
        description="layers to offload to the GPU (-1: all)",
        json_schema_extra={"cli": "--gpu-layers"},
    )
    n_threads: Annotated[Int, Field(ge=1, le=1024)] | None = Field(
        None,
        description="CPU threads (default: physical cores)",
        json_schema_extra={"cli": "--threads"},
    )
    chat_template: Annotated[str, Field(max_length=MAX_TEMPLATE_OVERRIDE_CHARS)] | None = Field(
        None,
        description="override the chat template (Jinja or a built-in name)",
        json_schema_extra={"cli": "--chat-template"},
    )
    n_parallel: Annotated[Int, Field(ge=1, le=MAX_PARALLEL)] = Field(
        1,
        description="requests served at once; the context is shared by them, as llama-server's -np",
        json_schema_extra={"cli": "--n-parallel"},
    )


class ModelLoad(LoadOptions):
    """One model file to load, with its options."""

    path: Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)] = Field(
        description="path to a .gguf model file", json_schema_extra={"cli": "--model"}
    )
    alias: Annotated[str, Field(max_length=256)] | None = Field(
        None, description="the model id the API reports (default: the file's stem)"
    )

    @property
    def options(self) -> LoadOptions:
        return LoadOptions(**{name: getattr(self, name) for name in LoadOptions.model_fields})


class SamplingOptions(JsonNumbers):
    """How tokens are chosen, with the defaults llama.cpp users expect.

    The API's request bodies extend this class (OpenAI's names), the runtime receives
    it, and Settings keeps the chat's defaults in it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    temperature: Annotated[Finite, Field(ge=0.0, le=5.0)] = 0.8
    top_p: Annotated[Finite, Field(ge=0.0, le=1.0)] = 0.95
    top_k: Annotated[Int, Field(ge=0, le=100_000)] = 40
    min_p: Annotated[Finite, Field(ge=0.0, le=1.0)] = 0.05
    repeat_penalty: Annotated[Finite, Field(gt=0.0, le=10.0)] = 1.0
    presence_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] = 0.0
    frequency_penalty: Annotated[Finite, Field(ge=-2.0, le=2.0)] = 0.0
    # None: until the context is full.
    max_tokens: Annotated[Int, Field(ge=1, le=1_000_000)] | None = None
    stop: str | list[str] | None = None
    seed: Annotated[Int, Field(ge=-1, le=2**32 - 1)] | None = None

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
        """The stop strings as a list, empty ones dropped."""
        if self.stop is None:
            return []
        items = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return [item for item in items if item]

    def sampling(self, **changes: Any) -> SamplingOptions:
        """Just the sampling fields (of a request body that extends this class), changed."""
        values = {name: getattr(self, name) for name in SamplingOptions.model_fields}
        values.update(changes)
        return SamplingOptions(**values)

    def request_fields(self) -> dict[str, Any]:
        """The fields to send in an API request body (unset ones left to the server)."""
        return {
            name: value
            for name in SamplingOptions.model_fields
            if (value := getattr(self, name)) is not None
        }
