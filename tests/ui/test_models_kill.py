"""A download survives being killed, by whoever runs it: ``llmos models pull`` and the app.

Real processes, as a user runs them: the CLI (``python -m llmos_desktop.cli``) and the
window (``python -m llmos_desktop``, offscreen), in one LLMOS_HOME, against the tests'
fake Hub on 127.0.0.1 (HF_ENDPOINT), which sends the file slowly enough to kill each in
the middle. ``llmos models pull`` starts the download and is killed with SIGKILL; the app,
started next, takes the download over by itself (its Models page resumes unfinished
downloads at start) and is killed with SIGKILL too; started again, it finishes. Each
start asks the Hub only for the bytes that are not on disk, and the file that ends in the
library is the Hub's, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmos_desktop.core.paths import app_paths
from tests.helpers.gguf_factory import write_big_gguf
from tests.helpers.hub_server import FakeHub

REPO, FILE = "owner/big", "Big-Q8_0.gguf"


def _wait(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # SIGKILL: no chance to clean up or to save anything
    process.wait(30)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to end the window")
def test_a_download_survives_sigkill_of_the_cli_and_of_the_app(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = app_paths({"LLMOS_HOME": str(home)}).ensure()
    target = paths.models / "owner" / "big" / FILE
    partial = target.with_name(target.name + ".part")
    source = write_big_gguf(tmp_path / "src" / FILE, 8)
    size = source.stat().st_size
    with FakeHub() as hub:
        hub.add_repo(REPO, {FILE: source})
        hub.rate_limit = 1024 * 1024  # about 8 s for the whole file
        env = {
            key: value
            for key, value in os.environ.items()
            if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        env.update(LLMOS_HOME=str(home), HF_ENDPOINT=hub.url, QT_QPA_PLATFORM="offscreen")

        def start(*command: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", *command],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        on_disk: list[int] = []  # the partial's size when each process died
        processes: list[subprocess.Popen[bytes]] = []
        try:
            pull = start("llmos_desktop.cli", "models", "pull", REPO, FILE)
            processes.append(pull)
            _wait(lambda: _size(partial) >= 1024 * 1024, pull, "the pull's first MiB")
            _kill(pull)
            on_disk.append(_size(partial))

            window = start("llmos_desktop")
            processes.append(window)
            _wait(
                lambda: _size(partial) >= on_disk[0] + 1024 * 1024,
                window,
                "the window to go on with the download",
            )
            _kill(window)
            on_disk.append(_size(partial))
            assert not target.exists()

            hub.rate_limit = None
            window = start("llmos_desktop")
            processes.append(window)
            _wait(lambda: target.exists() and not partial.exists(), window, "the download to end")
            window.send_signal(signal.SIGINT)  # Ctrl+C: the window closes as a user closes it
            assert window.wait(60) == 0
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()

        gets = hub.requests_for(FILE, "GET")
        # One request per start; each start asked only for what was not on disk yet.
        assert [get.range for get in gets] == [None, *(f"bytes={n}-" for n in on_disk)]
        assert all(get.status == 206 for get in gets[1:])
        assert gets[-1].bytes_sent == size - on_disk[-1]
        assert sum(get.bytes_sent for get in gets) <= size + 2 * 1024 * 1024  # in flight at kills
        expected = hub.sha256(REPO, FILE)

    assert 0 < on_disk[0] < on_disk[1] < size
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
    listed = subprocess.run(
        [sys.executable, "-m", "llmos_desktop.cli", "models", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [row for row in json.loads(listed.stdout) if not row["read_only"]]
    assert [(row["path"], row["error"], row["source_repo"]) for row in rows] == [
        (str(target), None, REPO)
    ]
