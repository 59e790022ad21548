"""The frozen app starts its engine from the bundle (run when a bundle exists)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from llmos_desktop import __version__
from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
from tests.packaging.conftest import executable, load_script


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_bundle_has_both_executables_and_the_llama_libraries(bundle_dir: Path) -> None:
    assert executable(bundle_dir, "llmos-desktop").is_file()
    assert executable(bundle_dir, "llmos").is_file()
    lib = bundle_dir / "_internal" / "llama_cpp" / "lib"
    names = [p.name for p in lib.iterdir()]
    assert any(n.startswith(("libllama", "llama")) for n in names), names


def test_frozen_cli_reports_the_package_version(bundle_dir: Path) -> None:
    run = subprocess.run(
        [str(executable(bundle_dir, "llmos")), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert run.stdout.strip() == f"llmos {__version__}"


def test_frozen_engine_starts_and_stops(bundle_dir: Path, tmp_path: Path) -> None:
    """The engine child is the windowed executable with --engine-child, as the app runs it."""
    supervisor = EngineSupervisor(
        log_path=tmp_path / "engine.log",
        ready_timeout=120,
        command=[str(executable(bundle_dir, "llmos-desktop")), "--engine-child"],
    )
    endpoint = supervisor.start()
    try:
        assert httpx.get(f"{endpoint.base_url}/health", timeout=30).status_code == 200
        status = httpx.get(
            f"{endpoint.base_url}/control/status",
            headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=60,
        ).json()
        assert status["loaded"] is False
        assert status["backend"]  # llama.cpp's native libraries loaded inside the bundle
    finally:
        supervisor.stop()
    assert _gone(endpoint.pid)


@pytest.mark.model
@pytest.mark.slow
def test_frozen_self_test_with_the_real_model(bundle_dir: Path, model_path: Path) -> None:
    """Window offscreen, engine from the bundle, a chat reply, no engine left."""
    smoke_test = load_script("smoke_test.py", "llmos_packaging_smoke_test")
    assert smoke_test.main([str(bundle_dir), str(model_path), "--timeout", "300"]) == 0


@pytest.mark.model
@pytest.mark.slow
def test_frozen_llmos_serve_answers_with_its_engine_child(
    bundle_dir: Path, model_path: Path, tmp_path: Path
) -> None:
    """The frozen ``llmos`` starts its engine as itself with --engine-child (and probes the
    model with --engine-probe): its launcher must route both to the engine's entry point."""
    import os
    import signal
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, LLMOS_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [
            str(executable(bundle_dir, "llmos")),
            *("serve", "--model", str(model_path), "--port", str(port)),
            *("--api-key", "frozen-key"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving "):
                break
        else:
            pytest.fail("llmos serve ended without serving:\n" + "".join(lines))
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/completions",
            headers={"Authorization": "Bearer frozen-key"},
            json={"prompt": "The sky is", "max_tokens": 4, "temperature": 0},
            timeout=120,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["usage"]["completion_tokens"] >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
