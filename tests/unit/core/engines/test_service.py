"""EnginesService, and a chat and an app on a remote engine: the fault server stands in
for the remote server (see test_remote.py for why); the chat store is the real SQLite
file, the session and the runner the real ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmos_desktop.core.apps.manifest import AppError
from llmos_desktop.core.apps.runner import AppRunner
from llmos_desktop.core.chat.options import ChatOptions
from llmos_desktop.core.chat.session import ChatSession, Outcome, ReplyEnded, ReplyListener
from llmos_desktop.core.chat.store import ChatStore
from llmos_desktop.core.engines.registry import EngineRegistryError
from llmos_desktop.core.engines.service import EnginesService
from llmos_desktop.core.engines.types import RemoteEngineConfig, RemoteErrorKind
from llmos_desktop.core.paths import app_paths
from tests.helpers import app_samples
from tests.helpers.openai_faults import REPLY, FaultServer

KEY = "sk-fault-test"


@pytest.fixture
def service(faults: FaultServer, no_keyring: None) -> EnginesService:
    engines = EnginesService(app_paths().ensure())
    config = RemoteEngineConfig(name="faulty", base_url=faults.base_url(), timeout_s=1.0)
    assert engines.add(config, KEY) == "file"
    return engines


def test_add_list_check_models_and_remove(service: EnginesService, faults: FaultServer) -> None:
    async def go() -> None:
        try:
            check = await service.check("faulty")
            assert check.ok and check.authorised and "drop" in check.models
            assert "one" in await service.models("FAULTY")
        finally:
            await service.aclose()

    asyncio.run(go())
    assert [c.name for c in service.list()] == ["faulty"]
    assert service.key_place("faulty") == "file"
    service.remove("faulty")
    assert service.list() == []
    assert service.key_place("faulty") is None
    with pytest.raises(EngineRegistryError):
        asyncio.run(service.check("faulty"))


def test_check_config_checks_before_adding(faults: FaultServer, no_keyring: None) -> None:
    engines = EnginesService(app_paths().ensure())
    config = RemoteEngineConfig(name="new", base_url=faults.base_url())
    assert asyncio.run(engines.check_config(config, KEY)).ok
    refused = asyncio.run(engines.check_config(config, "sk-nope"))
    assert refused.authorised is False
    assert engines.list() == []  # nothing was added


def test_one_client_per_engine_until_its_settings_change(service: EnginesService) -> None:
    first = service.engine_for("faulty", "one")
    assert service.engine_for("faulty", "many").client is first.client
    service.add(service.get("faulty").model_copy(update={"timeout_s": 5.0}), replace=True)
    changed = service.engine_for("faulty", "one")
    assert changed.client is not first.client
    assert changed.client.config.timeout_s == 5.0
    assert changed.client.has_key  # the key was kept
    asyncio.run(service.aclose())


def run_session(
    service: EnginesService, tmp_path: Path, model: str, text: str = "Hello"
) -> tuple[ReplyEnded, ChatStore, ChatSession]:
    store = ChatStore(tmp_path / "chats.db")
    engine = service.engine_for("faulty", model)
    session = ChatSession(engine, store=store, defaults=ChatOptions())

    async def go() -> ReplyEnded:
        try:
            return await session.send(text, ReplyListener())
        finally:
            await service.aclose()

    return asyncio.run(go()), store, session


def test_a_chat_on_a_remote_model_is_stored_with_its_engine(
    service: EnginesService, tmp_path: Path
) -> None:
    ended, store, session = run_session(service, tmp_path, "many")
    assert ended.outcome == Outcome.DONE and ended.text == REPLY
    assert ended.message is not None and ended.message.status == "complete"
    assert ended.message.meta["model"] == "faulty · many"
    assert ended.message.meta["tokens_per_s"] > 0
    assert session.conversation_id is not None
    options = store.options(session.conversation_id)
    assert (options.engine, options.model_path) == ("faulty", "many")  # reopened, it stays there
    store.close()


def test_a_stream_broken_mid_reply_keeps_the_part_marked_incomplete(
    service: EnginesService, tmp_path: Path
) -> None:
    ended, store, session = run_session(service, tmp_path, "drop")
    assert ended.outcome == Outcome.FAILED
    assert ended.text == "Hello from the"
    assert ended.message is not None and ended.message.status == "incomplete"
    assert "broke in the middle of the reply" in ended.message.meta["error"]
    assert ended.retry_text is None  # the message stays, with its partial reply
    assert [m.role for m in store.thread(session.conversation_id or 0)] == ["user", "assistant"]
    store.close()


@pytest.mark.parametrize(
    ("model", "kind"),
    [("stall-first", RemoteErrorKind.TIMEOUT), ("nope", RemoteErrorKind.NOT_FOUND)],
)
def test_a_failure_before_any_text_hands_the_message_back(
    service: EnginesService, tmp_path: Path, model: str, kind: RemoteErrorKind
) -> None:
    ended, store, session = run_session(service, tmp_path, model, "keep me")
    assert ended.outcome == Outcome.FAILED
    assert getattr(ended.error, "kind", None) == kind
    assert ended.retry_text == "keep me"  # nothing typed is lost
    assert session.thread == []
    store.close()


def test_a_refused_key_says_what_to_do(
    service: EnginesService, tmp_path: Path, faults: FaultServer
) -> None:
    service.set_api_key("faulty", "sk-revoked")
    ended, store, _session = run_session(service, tmp_path, "one")
    assert ended.outcome == Outcome.FAILED and ended.retry_text == "Hello"
    assert "Settings → Engines" in str(ended.error)
    store.close()


def test_an_app_runs_on_a_remote_engine_and_a_failure_is_an_app_error(
    service: EnginesService,
) -> None:
    app = app_samples.app("form")

    async def go(model: str) -> str:
        runner = AppRunner(service.engine_for("faulty", model))
        try:
            return (await runner.run_to_end(app, {"topic": "the sea"})).text
        finally:
            await service.aclose()

    assert asyncio.run(go("one")) == REPLY
    with pytest.raises(AppError) as caught:
        asyncio.run(go("drop"))
    assert caught.value.kind == "engine"
    assert "broke in the middle" in str(caught.value)
