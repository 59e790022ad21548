"""A conversation's own settings: its model, system prompt, sampling and context size.

Each chat keeps these in the chat store (``conversations.options``, JSON), so a chat
reopened in the window or with ``llmos chat --chat ID`` replies the way it did before.
A new chat starts from the user's settings (``ChatOptions.from_settings``).

The sampling fields are not re-listed here: ``sampling`` is the engine contract's
``SamplingOptions`` (core/engine/contract.py), with its bounds and defaults, as in
Settings. ``CHAT_SAMPLING_FIELDS`` names the ones a chat's settings panel shows; the
others (penalties, stop strings) are kept as the settings had them. ``n_ctx`` is checked
against the contract's ``LoadOptions`` bounds, also without re-listing them.

``engine`` names a remote engine (Settings → Engines, ``llmos engines``): the chat's
replies then come from that server, and ``model_path`` holds the id of the model it
serves instead of a file. None, the default, is the local engine.

Values read back from the store pass ``ChatOptions.from_stored``: a value that no
longer validates (hand-edited, or from another version) falls back to its default
alone, and the others are kept, as Settings does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmos_desktop.core.engine.contract import (
    MAX_PATH_CHARS,
    LoadOptions,
    ModelLoad,
    SamplingOptions,
)
from llmos_desktop.core.settings import Settings

ENGINE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A remote engine's name (core/engines/types.py ``NAME_PATTERN``; a test keeps them equal,
so that this module does not import the engines package)."""

log = logging.getLogger(__name__)

MAX_SYSTEM_PROMPT_CHARS = 32_000
"""A system prompt's bound: about 8,000 tokens, more than a small model's whole context."""

CHAT_SAMPLING_FIELDS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "max_tokens",
    "seed",
)
"""The contract's sampling fields a chat's settings show (all are stored and sent)."""


def _default_sampling() -> SamplingOptions:
    """The chat defaults of Settings (the contract's, with a reply length)."""
    sampling: SamplingOptions = Settings.model_fields["sampling"].get_default(
        call_default_factory=True
    )
    return sampling


class ChatOptions(BaseModel):
    """One chat's settings; frozen, so a copy with changes is ``model_copy(update=...)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: Annotated[str, Field(min_length=1, max_length=MAX_PATH_CHARS)] | None = Field(
        None,
        description="the .gguf file this chat uses (None: whatever is loaded); on a remote "
        "engine, the id of the model it serves",
    )
    engine: Annotated[str, Field(pattern=ENGINE_NAME_PATTERN)] | None = Field(
        None,
        description="None: the local engine; else the name of a remote engine "
        "(Settings → Engines), and model_path is that engine's model id",
    )
    system_prompt: Annotated[str, Field(max_length=MAX_SYSTEM_PROMPT_CHARS)] = Field(
        "", description="sent as the first message of every prompt when not empty"
    )
    sampling: SamplingOptions = Field(default_factory=_default_sampling)
    n_ctx: int | None = Field(None, description="context size in tokens (None: the app's)")

    @field_validator("sampling", mode="before")
    @classmethod
    def _known_sampling_fields(cls, value: Any) -> Any:
        # SamplingOptions ignores unknown fields (OpenAI clients send more); a stored or
        # imported chat must not smuggle anything through that way.
        if isinstance(value, Mapping):
            unknown = sorted(str(key) for key in value if key not in SamplingOptions.model_fields)
            if unknown:
                raise ValueError(f"unknown sampling fields: {', '.join(unknown)}")
        return value

    @field_validator("n_ctx")
    @classmethod
    def _n_ctx_within_the_contract(cls, value: int | None) -> int | None:
        if value is not None:
            try:
                LoadOptions(n_ctx=value)
            except ValidationError as exc:
                raise ValueError(exc.errors()[0]["msg"]) from None
        return value

    @classmethod
    def from_settings(cls, settings: Settings, *, model_path: str | None = None) -> ChatOptions:
        """A new chat's options: the user's chat sampling, the app's context size."""
        return cls(model_path=model_path, sampling=settings.sampling)

    @classmethod
    def from_stored(cls, data: Any) -> ChatOptions:
        """Options read back from the store; a bad value falls back to its default alone."""
        if not isinstance(data, Mapping):
            return cls()
        values: dict[str, Any] = {
            key: value for key, value in data.items() if key in cls.model_fields
        }
        if isinstance(values.get("sampling"), Mapping):
            values["sampling"] = dict(values["sampling"])
        for _ in range(len(cls.model_fields) + len(SamplingOptions.model_fields) + 1):
            try:
                return cls.model_validate(values)
            except ValidationError as exc:
                error = exc.errors()[0]
                loc = tuple(error["loc"])
                log.warning("chat options: %s %s; using the default", loc, error["msg"])
                sampling = values.get("sampling")
                if loc[:1] == ("sampling",) and isinstance(sampling, dict):
                    if len(loc) >= 2 and loc[1] in sampling:
                        del sampling[loc[1]]
                    elif any(key not in SamplingOptions.model_fields for key in sampling):
                        values["sampling"] = {
                            k: v for k, v in sampling.items() if k in SamplingOptions.model_fields
                        }
                    else:
                        del values["sampling"]
                elif loc and loc[0] in values:
                    del values[loc[0]]
                    if loc[0] == "engine":  # a remote model id is no file: drop it too
                        values.pop("model_path", None)
                else:
                    break
        return cls()

    def stored(self) -> dict[str, Any]:
        """What the store keeps (JSON-ready)."""
        return self.model_dump(mode="json")

    def with_sampling(self, **changes: Any) -> ChatOptions:
        """A copy with some sampling fields changed, validated with the contract's bounds."""
        return self.model_copy(update={"sampling": self.sampling.sampling(**changes)})

    @property
    def remote(self) -> bool:
        """Replies come from a remote engine (``engine``), not the local one."""
        return self.engine is not None

    def on_remote(self, engine: str, model_id: str) -> ChatOptions:
        """A copy that replies with ``model_id`` of remote engine ``engine`` (validated)."""
        return type(self).model_validate(
            {**self.model_dump(), "engine": engine, "model_path": model_id}
        )

    def on_local(self, model_path: str | None) -> ChatOptions:
        """A copy that replies with the local engine and ``model_path`` (validated)."""
        return type(self).model_validate(
            {**self.model_dump(), "engine": None, "model_path": model_path}
        )

    def model_load(self, path: str, load: LoadOptions) -> ModelLoad:
        """What to load for this chat: ``path`` with the app's load options and this chat's
        context size (when it has one)."""
        values = load.model_dump()
        if self.n_ctx is not None:
            values["n_ctx"] = self.n_ctx
        return ModelLoad(path=path, **values)


__all__ = ["CHAT_SAMPLING_FIELDS", "ENGINE_NAME_PATTERN", "MAX_SYSTEM_PROMPT_CHARS", "ChatOptions"]
