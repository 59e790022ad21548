"""The engine process runs llama.cpp with a short OpenMP spin (core/engine/llama_env.py
says why: under a busy core the default spin made replies 10x slower or worse)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from llmos_desktop.core.engine.llama_env import GOMP_SPINCOUNT, llama_process_env


def test_the_spin_is_shortened_unless_the_user_chose_one() -> None:
    assert llama_process_env({"PATH": "/bin"}) == {"PATH": "/bin", "GOMP_SPINCOUNT": "1000"}
    assert llama_process_env({"GOMP_SPINCOUNT": "INFINITY"})["GOMP_SPINCOUNT"] == "INFINITY"
    assert "GOMP_SPINCOUNT" not in llama_process_env({"OMP_WAIT_POLICY": "active"})


def test_the_engine_process_gets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    supervisor = EngineSupervisor(log_path=tmp_path / "engine.log", ready_timeout=60)
    supervisor.start()
    try:
        assert supervisor.pid is not None
        environ = psutil.Process(supervisor.pid).environ()
    finally:
        supervisor.stop()
    assert environ.get("GOMP_SPINCOUNT") == GOMP_SPINCOUNT
