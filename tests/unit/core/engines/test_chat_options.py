"""ChatOptions.engine: a chat that replies on a remote engine, stored and read back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmos_desktop.core.chat.options import ChatOptions


def test_a_chat_moves_between_local_and_remote() -> None:
    local = ChatOptions(model_path="/models/a.gguf", system_prompt="Be brief.")
    assert not local.remote
    remote = local.on_remote("gpu-box", "Qwen/Qwen2.5-32B-Instruct")
    assert remote.remote and remote.engine == "gpu-box"
    assert remote.model_path == "Qwen/Qwen2.5-32B-Instruct"
    assert remote.system_prompt == "Be brief." and remote.sampling == local.sampling
    back = remote.on_local("/models/b.gguf")
    assert (back.engine, back.model_path) == (None, "/models/b.gguf")
    with pytest.raises(ValidationError):
        local.on_remote("not a name", "m")


def test_stored_and_read_back() -> None:
    remote = ChatOptions().on_remote("lab", "llama-3.1-8b-instruct")
    assert ChatOptions.from_stored(remote.stored()) == remote


def test_a_bad_stored_engine_drops_its_model_id_too() -> None:
    # a remote model id must never be taken for a local file
    stored = ChatOptions().on_remote("lab", "m").stored() | {"engine": "../../etc"}
    read = ChatOptions.from_stored(stored)
    assert read.engine is None and read.model_path is None
