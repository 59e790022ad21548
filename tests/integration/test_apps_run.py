"""Apps run end to end on the real engine process with the real test models: a form app
streams its result, a structured app's result is JSON that follows its schema (checked
here with jsonschema again, not only by the runner), a chat app opens a chat with its
preset and replies in it.

What a user checks: the text streams in pieces and adds up to the result; the
structured result parses and validates; a result cut at the token limit is an error
that says so, with the raw text kept; Stop ends a run and the next one works; bad input
is refused before the engine is asked anything.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from llmos_desktop.core.apps.manifest import AppError
from llmos_desktop.core.apps.runner import AppRunner, AppRunResult
from llmos_desktop.core.chat.session import ChatSession, Outcome
from llmos_desktop.core.chat.store import ChatStore
from llmos_desktop.core.engine.contract import ModelLoad
from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from tests.helpers.app_samples import CONTACT_SCHEMA, app

CTX = 2048
# One thread: llama.cpp's spinning threads crawl on the shared, busy cores of a test
# machine (two threads under load took ten times as long).
THREADS = 1


def _spec(path: Path) -> ModelLoad:
    return ModelLoad(path=str(path), n_ctx=CTX, n_threads=THREADS)


async def _pieces(runner: AppRunner, *args: object, **kwargs: object) -> list[str]:
    return [piece async for piece in runner.run(*args, **kwargs)]  # type: ignore[arg-type]


@pytest.mark.model
def test_form_structured_and_chat_apps_on_the_instruct_model(
    chat_model_path: Path, tmp_path: Path
) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    runner = AppRunner(engine)
    spec = _spec(chat_model_path)

    async def scenario() -> None:
        try:
            # form: loads the model it is given, streams the poem.
            form = app("form")
            result = AppRunResult(mode="form")
            pieces = await _pieces(
                runner, form, {"topic": "the sea"}, model_load=spec, result=result
            )
            assert engine.loaded == spec
            assert pieces and "".join(pieces) == result.text
            assert result.text.strip(), "the model wrote something"
            assert result.chat.usage.get("completion_tokens", 0) > 0
            assert result.data is None

            # structured: the grammar keeps the model to the schema; the runner parses
            # and validates, and so does this test, independently.
            contact = app("structured")
            structured = AppRunResult(mode="structured")
            async for _ in runner.run(
                contact,
                {"text": "Anna Berg is 34 years old and lives in Oslo."},
                result=structured,
            ):
                pass
            parsed = json.loads(structured.text)
            jsonschema.validate(parsed, CONTACT_SCHEMA)
            assert structured.data == parsed
            assert isinstance(parsed["name"], str) and parsed["name"]

            # A result cut at the token limit is an error that says so; the text stays.
            cut = AppRunResult(mode="structured")
            with pytest.raises(AppError) as cut_off:
                async for _ in runner.run(
                    contact, {"text": "Bob, 40, from Paris."}, result=cut, max_tokens=4
                ):
                    pass
            assert cut_off.value.kind == "output"
            assert "token limit" in cut_off.value.message
            assert cut.text.startswith("{") and cut.data is None

            # chat: run() answers the preset's first message...
            pirate = app("chat")
            reply = await runner.run_to_end(pirate, {"name": "Lee"})
            assert reply.text.strip()
            # ...and the chat page opens a chat with the preset and sends that message.
            preset = await asyncio.get_running_loop().run_in_executor(
                None, runner.chat_preset, pirate, {"name": "Lee"}
            )
            assert preset.first_message == "Hello! My name is Lee. Greet me."
            assert preset.system_prompt == pirate.system_prompt
            store = ChatStore(tmp_path / "chats.db")
            try:
                session = ChatSession(
                    engine, store=store, defaults=preset.chat_options(str(chat_model_path))
                )
                ended = await session.send(preset.first_message)
                assert ended.outcome == Outcome.DONE and ended.text.strip()
                assert session.conversation_id is not None
                options = store.options(session.conversation_id)
                assert options.system_prompt == pirate.system_prompt
                assert options.sampling.max_tokens == 32
                assert [m.role for m in store.thread(session.conversation_id)] == [
                    "user",
                    "assistant",
                ]
            finally:
                store.close()

            # Stop: cancelling a run ends it; the engine serves the next one.
            long_form = app("form", sampling={"temperature": 0.7, "max_tokens": 400})
            started = asyncio.Event()

            async def stoppable() -> None:
                async for _ in runner.run(long_form, {"topic": "rivers", "lines": 8}):
                    started.set()

            task = asyncio.create_task(stoppable())
            await asyncio.wait_for(started.wait(), 60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            again = await runner.run_to_end(form, {"topic": "snow"})
            assert again.text.strip()
        finally:
            await engine.close()

    asyncio.run(scenario())


@pytest.mark.model
def test_a_structured_app_on_the_base_model(model_path: Path, tmp_path: Path) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))
    runner = AppRunner(engine)
    contact = app("structured")

    async def scenario() -> None:
        try:
            with pytest.raises(AppError) as no_model:
                await runner.run_to_end(contact, {"text": "Kim, 27, Seoul."})
            assert no_model.value.kind == "engine" and "no model" in no_model.value.message
            assert not engine.running, "nothing was started for it"

            result = AppRunResult(mode="structured")
            async for _ in runner.run(
                contact,
                {"text": "Kim Lee is 27 and lives in Seoul."},
                model_load=_spec(model_path),
                result=result,
            ):
                pass
            value = json.loads(result.text)
            jsonschema.validate(value, CONTACT_SCHEMA)
            assert result.data == value
        finally:
            await engine.close()

    asyncio.run(scenario())


def test_bad_input_is_refused_before_the_engine(tmp_path: Path) -> None:
    engine = Engine(EngineSupervisor(log_path=tmp_path / "engine.log"))  # never started
    runner = AppRunner(engine)
    form = app("form")
    cases: list[tuple[dict[str, object], str]] = [
        ({}, "topic"),  # required, no default
        ({"topic": "   "}, "topic"),
        ({"topic": "sea", "lines": 99}, "lines"),  # over max
        ({"topic": "sea", "lines": 2.5}, "lines"),  # not whole
        ({"topic": "sea", "colour": "red"}, "colour"),  # not an input
        ({"topic": "line one\nline two"}, "topic"),  # one line only
        ({"topic": 5}, "topic"),
    ]

    async def scenario() -> None:
        for values, field in cases:
            with pytest.raises(AppError) as refused:
                await runner.run_to_end(form, values)
            assert refused.value.kind == "input", values
            assert refused.value.field == field, values
        with pytest.raises(AppError) as bad_max:
            await runner.run_to_end(form, {"topic": "sea"}, max_tokens=0)
        assert bad_max.value.field == "max_tokens"
        with pytest.raises(AppError) as not_chat:
            runner.chat_preset(form)
        assert not_chat.value.field == "mode"
        assert not engine.running

    asyncio.run(scenario())
