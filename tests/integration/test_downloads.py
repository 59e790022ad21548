"""DownloadManager against a real HTTP server, writing real files.

The server is the fake Hub (tests/helpers/hub_server.py: a real server on 127.0.0.1 with
switches for what networks do: drop, stall, fail, corrupt, go slowly), and once Python's
own ``http.server``, which ignores Range as many simple servers do. What a user would
check is asserted: the file at the target has the Hub's bytes, nothing half-done is
beside it, a resume asks for exactly the bytes that are not on disk (from the server's
request log), errors have the kind the pane acts on.

A full disk, three ways, each saying what is real:

- a real tmpfs of a few MiB (needs root and mount; skipped where that cannot run): both
  the check before the first byte and a real ENOSPC while writing;
- the free-space query (``shutil.disk_usage``, the only replaced part) answering "full"
  before the start or in the middle; everything else real;
- the kernel's real refusal of a write (``RLIMIT_FSIZE`` in a child process: EFBIG, as a
  FAT32 stick or a quota would) where no tmpfs can be mounted.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmos_desktop.core.models import downloads as downloads_module
from llmos_desktop.core.models.downloads import DownloadManager, partial_path
from llmos_desktop.core.models.types import DownloadProgress, ModelsError, RemoteFile
from tests.helpers.http_server import LocalServer
from tests.helpers.hub_server import FakeHub, RequestLog, fake_hub

__all__ = ["fake_hub"]  # the fixture, imported for pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
REPO = "owner/model"
NAME = "model-Q4_K_M.gguf"


@dataclass(frozen=True)
class Served:
    file: RemoteFile
    data: bytes
    url: str


def serve(hub: FakeHub, size: int, *, path: str = NAME, repo: str = REPO, seed: int = 1) -> Served:
    data = random.Random(seed).randbytes(size)
    hub.add_repo(repo, {path: data})
    revision = hub.revision(repo)
    file = RemoteFile(repo, path, size, hashlib.sha256(data).hexdigest(), revision)
    return Served(file, data, hub.file_url(repo, path, revision))


class Recorder:
    """Every listener call, with the time and thread it came on."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, DownloadProgress]] = []
        self.threads: list[tuple[str, str]] = []  # (status, thread name)

    def __call__(self, progress: DownloadProgress) -> None:
        self.calls.append((time.monotonic(), progress))
        self.threads.append((progress.status, threading.current_thread().name))

    def statuses(self) -> list[str]:
        out: list[str] = []
        for _, p in self.calls:
            if not out or out[-1] != p.status:
                out.append(p.status)
        return out


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


Factory = Callable[..., DownloadManager]


@pytest.fixture
def make_manager(state_dir: Path) -> Iterator[Factory]:
    made: list[DownloadManager] = []

    def make(**options: Any) -> DownloadManager:
        settings: dict[str, Any] = {
            "client": httpx.Client,
            "headers": lambda url: {"User-Agent": "llmos-test"},
            "stall_seconds": 3.0,
            "retries": 3,
            "backoff": 0.02,
            "min_free_bytes": 0,
        }
        settings.update(options)
        manager = DownloadManager(settings.pop("state_dir", state_dir), **settings)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


def target_of(models: Path, served: Served) -> Path:
    return models / served.file.repo_id / served.file.path


def gets(hub: FakeHub) -> list[RequestLog]:
    return hub.requests_for("/resolve/", "GET")


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def part_size(target: Path) -> int:
    try:
        return partial_path(target).stat().st_size
    except FileNotFoundError:
        return 0


def assert_verified(target: Path, data: bytes) -> None:
    assert target.read_bytes() == data
    assert not partial_path(target).exists()


def assert_contiguous(requests: list[RequestLog], size: int) -> None:
    """Each request starts where the bytes before it ended: nothing fetched twice."""
    start = 0
    for request in requests:
        assert request.range == (None if start == 0 else f"bytes={start}-")
        start += request.bytes_sent
    assert start == size


def state_records(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(state_dir.glob("*.json"))]


# --- the plain path ----------------------------------------------------------------------


def test_a_download_ends_verified_and_renamed(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 3 * MiB + 17)
    recorder = Recorder()
    manager = make_manager()
    manager.subscribe(recorder)
    target = target_of(models, served)

    download_id = manager.add(served.file, served.url, target, root=models)
    final = manager.wait(download_id, 30)

    assert final.status == "done", final
    assert (final.received, final.total, final.error) == (len(served.data), len(served.data), None)
    assert_verified(target, served.data)
    assert sorted(p.name for p in target.parent.iterdir()) == [NAME]
    assert state_records(state_dir) == []  # a finished download leaves no state
    assert recorder.statuses() == ["queued", "downloading", "verifying", "done"]
    # The transfer's calls come on its worker thread, not the caller's.
    assert all(
        name.startswith("download-") for status, name in recorder.threads if status != "queued"
    )
    assert [p.status for p in manager.list()] == ["done"]
    assert len(gets(fake_hub)) == 1


def test_progress_is_throttled_with_a_smoothed_speed_and_eta(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, MiB)
    fake_hub.rate_limit = MiB  # about one second
    recorder = Recorder()
    manager = make_manager()
    manager.subscribe(recorder)

    download_id = manager.add(served.file, served.url, target_of(models, served))
    assert manager.wait(download_id, 30).status == "done"

    progress = [(t, p) for t, p in recorder.calls if p.status == "downloading"][1:]
    assert len(progress) >= 5
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(progress)]
    assert min(gaps) >= 0.09  # at most ~10 calls a second, besides the status changes
    late = [p for _, p in progress if p.received > MiB // 2]
    assert late, "no progress in the second half"
    for p in late:
        assert 0.4 * MiB < p.speed < 2.5 * MiB, p.speed
        assert p.eta is not None and p.total is not None
        assert p.eta == pytest.approx((p.total - p.received) / p.speed)


# --- pause, resume, restart --------------------------------------------------------------


def test_pause_then_resume_fetches_only_the_remaining_bytes(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 2 * MiB)
    fake_hub.rate_limit = MiB
    fake_hub.required_token = "hf_secret_token"
    manager = make_manager(headers=lambda url: {"Authorization": "Bearer hf_secret_token"})
    target = target_of(models, served)
    download_id = manager.add(served.file, served.url, target)
    wait_until(lambda: manager.get(download_id).received >= 300_000)

    manager.pause(download_id)
    paused = manager.wait(download_id, 10)

    assert paused.status == "paused"
    on_disk = part_size(target)
    assert 300_000 <= on_disk < len(served.data)
    assert paused.received == on_disk
    assert not target.exists()
    [record] = state_records(state_dir)
    assert record["status"] == "paused"
    assert "hf_secret_token" not in json.dumps(record)  # the token is never written
    time.sleep(0.3)
    assert len(gets(fake_hub)) == 1  # a paused download asks for nothing

    fake_hub.rate_limit = None
    manager.resume(download_id)
    assert manager.wait(download_id, 30).status == "done"

    _first, second = gets(fake_hub)
    assert second.range == f"bytes={on_disk}-"
    assert second.bytes_sent == len(served.data) - on_disk
    assert second.authorization == "Bearer hf_secret_token"
    assert_verified(target, served.data)


def _child(spec: Mapping[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.download_child", json.dumps(spec)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _child_spec(served: Served, target: Path, models: Path, state_dir: Path) -> dict[str, Any]:
    return {
        "state_dir": str(state_dir),
        "url": served.url,
        "repo_id": served.file.repo_id,
        "path": served.file.path,
        "size": served.file.size,
        "sha256": served.file.sha256,
        "revision": served.file.revision,
        "target": str(target),
        "root": str(models),
    }


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_mid_file_then_a_restart_resumes_from_the_bytes_on_disk(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 2 * MiB)
    fake_hub.rate_limit = 512 * 1024  # ~4 s for the file: time to kill it in the middle
    target = target_of(models, served)
    child = _child(_child_spec(served, target, models, state_dir))
    try:
        wait_until(lambda: part_size(target) >= 400_000 or child.poll() is not None, 30)
        child.send_signal(signal.SIGKILL)
    finally:
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    on_disk = part_size(target)
    assert 400_000 <= on_disk < len(served.data)
    assert not target.exists()
    [record] = state_records(state_dir)
    assert record["status"] == "queued" and record["sha256"] == served.file.sha256
    fake_hub.rate_limit = None

    # `llmos models pull` style: a manager that resumes nothing on its own lists it paused.
    quiet = make_manager(resume_on_start=False)
    [listed] = quiet.list()
    assert (listed.status, listed.received, listed.target) == ("paused", on_disk, target)
    time.sleep(0.3)
    assert len(gets(fake_hub)) == 1
    quiet.close()

    # The app starting again: it hashes the bytes on disk again and goes on from there.
    manager = make_manager()
    final = manager.wait(listed.id, 30)

    assert final.status == "done", final
    _killed, resumed = gets(fake_hub)
    assert resumed.range == f"bytes={on_disk}-"  # no byte on disk was fetched again
    assert resumed.bytes_sent == len(served.data) - on_disk
    assert_verified(target, served.data)
    assert state_records(state_dir) == []


def test_pull_again_after_a_kill_continues_the_same_download(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    """add() of a file whose partial and state an earlier process left takes them up."""
    served = serve(fake_hub, MiB)
    target = target_of(models, served)
    target.parent.mkdir(parents=True)
    partial_path(target).write_bytes(served.data[:333_333])  # what a killed run left
    manager = make_manager(resume_on_start=False)

    download_id = manager.add(served.file, served.url, target)

    assert manager.wait(download_id, 30).status == "done"
    [request] = gets(fake_hub)
    assert request.range == "bytes=333333-"
    assert_verified(target, served.data)


# --- the network misbehaves --------------------------------------------------------------


def test_a_dropped_connection_is_retried_from_where_it_stopped(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 2 * MiB + 123)
    fake_hub.drop_after = 700_000  # every answer is cut after 700,000 bytes
    recorder = Recorder()
    manager = make_manager(retries=2)  # fewer than the drops: progress resets the count
    manager.subscribe(recorder)
    target = target_of(models, served)

    final = manager.wait(manager.add(served.file, served.url, target), 30)

    assert final.status == "done", final
    assert len(gets(fake_hub)) == -(-len(served.data) // 700_000)  # 3
    assert_contiguous(gets(fake_hub), len(served.data))
    assert_verified(target, served.data)
    retrying = [p for _, p in recorder.calls if p.status == "retrying"]
    assert retrying and all(p.error is not None and p.error.kind == "network" for p in retrying)


def test_a_stall_is_detected_and_retried(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, MiB)
    fake_hub.stall_after = 300_000
    fake_hub.stall_seconds = 30.0  # the server would hold the connection open for 30 s
    fake_hub.fault_limit = 1
    recorder = Recorder()
    manager = make_manager(stall_seconds=0.5)
    manager.subscribe(recorder)
    target = target_of(models, served)
    started = time.monotonic()

    final = manager.wait(manager.add(served.file, served.url, target), 30)

    assert final.status == "done", final
    assert time.monotonic() - started < 10
    assert_contiguous(gets(fake_hub), len(served.data))
    assert [r.range for r in gets(fake_hub)] == [None, "bytes=300000-"]
    [retry] = [p for _, p in recorder.calls if p.status == "retrying"]
    assert retry.error is not None and "stalled" in retry.error.message
    assert_verified(target, served.data)


def test_a_corrupted_byte_is_caught_and_the_partial_deleted(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, MiB)
    fake_hub.corrupt_at = 123_456
    manager = make_manager()
    target = target_of(models, served)
    download_id = manager.add(served.file, served.url, target)

    final = manager.wait(download_id, 30)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == "checksum"
    assert not target.exists() and not partial_path(target).exists()
    [record] = state_records(state_dir)  # the failure is listed after a restart too
    assert record["status"] == "failed" and record["error"]["kind"] == "checksum"

    fake_hub.corrupt_at = None
    manager.resume(download_id)
    assert manager.wait(download_id, 30).status == "done"
    assert gets(fake_hub)[-1].range is None  # the bad bytes were not kept
    assert_verified(target, served.data)


@pytest.mark.parametrize(("status", "kind"), [(401, "auth"), (403, "gated"), (404, "not_found")])
def test_refusals_fail_at_once(
    fake_hub: FakeHub, models: Path, make_manager: Factory, status: int, kind: str
) -> None:
    served = serve(fake_hub, 1000)
    fake_hub.fail_status = status
    manager = make_manager(retries=5)
    target = target_of(models, served)

    final = manager.wait(manager.add(served.file, served.url, target), 10)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == kind
    assert len(gets(fake_hub)) == 1
    assert not target.exists() and not partial_path(target).exists()


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limited"), (500, "server"), (503, "server")]
)
def test_busy_servers_are_retried_then_fail_with_their_kind(
    fake_hub: FakeHub, models: Path, make_manager: Factory, status: int, kind: str
) -> None:
    served = serve(fake_hub, 1000)
    fake_hub.fail_status = status
    manager = make_manager(retries=2, max_retry_after=0.05)
    target = target_of(models, served)

    final = manager.wait(manager.add(served.file, served.url, target), 10)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == kind
    assert len(gets(fake_hub)) == 3  # the first try and two retries, not forever
    assert final.attempt == 2


def test_retry_after_is_honoured_and_the_download_recovers(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 100_000)
    fake_hub.fail_status = 429  # the fake Hub sends Retry-After: 1
    fake_hub.fault_limit = 1
    recorder = Recorder()
    manager = make_manager(backoff=0.01)
    manager.subscribe(recorder)
    target = target_of(models, served)
    started = time.monotonic()

    final = manager.wait(manager.add(served.file, served.url, target), 10)

    assert final.status == "done"
    assert time.monotonic() - started >= 0.95  # not the 10 ms back-off
    assert "retrying" in recorder.statuses()
    assert_verified(target, served.data)


# --- the server's answer is checked --------------------------------------------------------


def test_a_file_changed_upstream_starts_over_cleanly(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    """No SHA-256 (a small non-LFS file): the ETag is what tells the change."""
    old = random.Random(1).randbytes(MiB)
    new = random.Random(2).randbytes(MiB)
    fake_hub.add_repo(REPO, {"notes.json": old})
    file = RemoteFile(REPO, "notes.json", MiB, None, None)
    url = fake_hub.file_url(REPO, "notes.json")
    fake_hub.rate_limit = MiB
    manager = make_manager()
    target = models / REPO / "notes.json"
    download_id = manager.add(file, url, target)
    wait_until(lambda: manager.get(download_id).received >= 200_000)
    manager.pause(download_id)
    assert manager.wait(download_id, 10).status == "paused"

    fake_hub.rate_limit = None
    fake_hub.add_repo(REPO, {"notes.json": new})  # same size, other bytes
    manager.resume(download_id)

    assert manager.wait(download_id, 30).status == "done"
    assert target.read_bytes() == new  # never half old, half new
    assert gets(fake_hub)[-1].range is None


class _NoRangeHandler(http.server.SimpleHTTPRequestHandler):
    """Python's own file server, which answers 200 with the whole file to a Range."""

    ranges: list[str | None]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.ranges.append(self.headers.get("Range"))
        super().do_GET()


def test_a_server_that_ignores_range_gets_a_clean_start(
    tmp_path: Path, models: Path, make_manager: Factory
) -> None:
    data = random.Random(3).randbytes(MiB)
    public = tmp_path / "public"
    public.mkdir()
    (public / NAME).write_bytes(data)
    seen: list[str | None] = []

    class Handler(_NoRangeHandler):
        ranges = seen

    with LocalServer(partial(Handler, directory=str(public))) as server:
        target = models / REPO / NAME
        target.parent.mkdir(parents=True)
        partial_path(target).write_bytes(b"\xff" * 100_000)  # bytes of something else
        file = RemoteFile(REPO, NAME, len(data), hashlib.sha256(data).hexdigest())
        manager = make_manager()
        url = f"{server.url}/{NAME}"

        final = manager.wait(manager.add(file, url, target), 30)

        assert final.status == "done", final
        assert seen == ["bytes=100000-"]  # asked once, answered with the whole file
        assert_verified(target, data)


def test_the_download_connection_reads_in_large_pieces(fake_hub: FakeHub) -> None:
    """widen_reads reaches httpcore's connection through private attributes: this fails
    when an httpx or httpcore upgrade moves them (downloads then still work, slower)."""
    import httpcore

    served = serve(fake_hub, 4 * MiB)
    default = httpcore.HTTP11Connection.READ_NUM_BYTES
    with httpx.Client() as client, client.stream("GET", served.url) as response:
        assert downloads_module.widen_reads(response)
        body = b"".join(response.iter_raw())
    assert body == served.data
    assert default == httpcore.HTTP11Connection.READ_NUM_BYTES  # the class is untouched


# --- names, the queue, cancel --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../evil.gguf",
        "a/../../evil.gguf",
        "/etc/evil.gguf",
        "C:evil.gguf",
        "..\\evil.gguf",
        "evil\x00.gguf",
        "sub//evil.gguf",
        "",
    ],
)
def test_a_hostile_file_name_is_refused_before_anything_is_written(
    fake_hub: FakeHub,
    tmp_path: Path,
    models: Path,
    state_dir: Path,
    make_manager: Factory,
    path: str,
) -> None:
    manager = make_manager()
    file = RemoteFile(REPO, path, 10, "0" * 64)
    url = f"{fake_hub.url}/{REPO}/resolve/main/x.gguf"

    with pytest.raises(ModelsError) as caught:
        manager.add(file, url, models / REPO / path, root=models)

    assert caught.value.kind == "unsafe_name"
    assert not models.exists()
    assert list(state_dir.iterdir()) == []
    assert manager.list() == []
    assert fake_hub.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]


def test_targets_that_leave_their_folder_are_refused(
    fake_hub: FakeHub, tmp_path: Path, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, 1000)
    manager = make_manager()
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"keep me")

    refused: list[Callable[[], str]] = []
    # a target outside the models folder
    refused.append(lambda: manager.add(served.file, served.url, outside / NAME, root=models))
    # a planted link where the partial goes
    (models / REPO).mkdir(parents=True)
    partial_path(models / REPO / NAME).symlink_to(victim)
    refused.append(lambda: manager.add(served.file, served.url, models / REPO / NAME, root=models))
    # a folder inside the models folder that is a link to elsewhere
    (models / "linked").symlink_to(outside, target_is_directory=True)
    refused.append(
        lambda: manager.add(served.file, served.url, models / "linked" / NAME, root=models)
    )
    for add in refused:
        with pytest.raises(ModelsError) as caught:
            add()
        assert caught.value.kind == "unsafe_name"
    assert victim.read_bytes() == b"keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert list(state_dir.iterdir()) == [] and gets(fake_hub) == []


def test_downloads_queue_behind_max_active(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    first = serve(fake_hub, MiB, path="a-Q4_0.gguf", seed=4)
    second = serve(fake_hub, MiB, path="b-Q4_0.gguf", seed=5)
    # add_repo replaced the repository: both files again, in one repository
    fake_hub.add_repo(REPO, {"a-Q4_0.gguf": first.data, "b-Q4_0.gguf": second.data})
    revision = fake_hub.revision(REPO)
    urls = [fake_hub.file_url(REPO, s.file.path, revision) for s in (first, second)]
    fake_hub.rate_limit = 4 * MiB
    recorder = Recorder()
    manager = make_manager(max_active=1)
    manager.subscribe(recorder)

    a = manager.add(first.file, urls[0], target_of(models, first))
    b = manager.add(second.file, urls[1], target_of(models, second))
    assert manager.get(b).status == "queued"

    assert manager.wait(a, 30).status == "done"
    assert manager.wait(b, 30).status == "done"
    done_a = next(t for t, p in recorder.calls if p.id == a and p.status == "done")
    start_b = next(t for t, p in recorder.calls if p.id == b and p.status == "downloading")
    assert start_b >= done_a
    assert [p.id for p in manager.list()] == [a, b]
    assert_verified(target_of(models, first), first.data)
    assert_verified(target_of(models, second), second.data)


def test_cancel_deletes_the_partial_of_a_running_or_queued_download(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    first = serve(fake_hub, MiB, path="a-Q4_0.gguf", seed=6)
    second = serve(fake_hub, MiB, path="b-Q4_0.gguf", seed=7)
    fake_hub.add_repo(REPO, {"a-Q4_0.gguf": first.data, "b-Q4_0.gguf": second.data})
    revision = fake_hub.revision(REPO)
    fake_hub.rate_limit = 256 * 1024
    manager = make_manager(max_active=1)
    a = manager.add(
        first.file, fake_hub.file_url(REPO, "a-Q4_0.gguf", revision), target_of(models, first)
    )
    b = manager.add(
        second.file, fake_hub.file_url(REPO, "b-Q4_0.gguf", revision), target_of(models, second)
    )
    wait_until(lambda: part_size(target_of(models, first)) > 50_000)

    manager.cancel(b)
    manager.cancel(a)

    assert manager.wait(a, 10).status == "cancelled"
    assert manager.get(b).status == "cancelled"
    assert list(target_of(models, first).parent.iterdir()) == []
    assert state_records(state_dir) == []
    assert [r.path.rsplit("/", 1)[-1] for r in gets(fake_hub)] == ["a-Q4_0.gguf"]


def test_two_processes_never_write_one_partial(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    served = serve(fake_hub, MiB)
    fake_hub.rate_limit = MiB
    target = target_of(models, served)
    running = make_manager()
    first = running.add(served.file, served.url, target)
    wait_until(lambda: part_size(target) > 0)
    other = make_manager(resume_on_start=False)  # `llmos models pull` while the app runs

    second = other.wait(other.add(served.file, served.url, target), 10)

    assert second.status == "failed"
    assert second.error is not None and second.error.kind == "io"
    assert "Another LLMOS process" in second.error.message
    [record] = state_records(state_dir)  # the running one's state is not marked failed
    assert record["status"] == "queued"
    fake_hub.rate_limit = None
    assert running.wait(first, 30).status == "done"
    assert_verified(target, served.data)


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_before_the_start_fails_without_a_request(
    fake_hub: FakeHub, models: Path, make_manager: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced: the free-space query only (it says 1 MiB free)."""
    served = serve(fake_hub, 2 * MiB)
    real = shutil.disk_usage

    def one_mib_free(path: str | os.PathLike[str]) -> Any:
        usage = real(path)
        return type(usage)(usage.total, usage.total - MiB, MiB)

    monkeypatch.setattr(shutil, "disk_usage", one_mib_free)
    manager = make_manager(min_free_bytes=0)
    target = target_of(models, served)

    final = manager.wait(manager.add(served.file, served.url, target), 10)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == "disk_full"
    assert "2.1 MB needed" in final.error.message
    assert gets(fake_hub) == [] and not models.exists()


def test_a_disk_that_fills_while_writing_stops_and_keeps_the_partial(
    fake_hub: FakeHub, models: Path, make_manager: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaced: the free-space query only; it says "full" once 400 KB are on disk."""
    served = serve(fake_hub, 2 * MiB)
    fake_hub.rate_limit = 2 * MiB
    target = target_of(models, served)
    real = shutil.disk_usage
    full = threading.Event()

    def filling(path: str | os.PathLike[str]) -> Any:
        usage = real(path)
        if part_size(target) >= 400_000:
            full.set()
        return type(usage)(usage.total, usage.total, 0) if full.is_set() else usage

    monkeypatch.setattr(shutil, "disk_usage", filling)
    manager = make_manager(min_free_bytes=0)
    download_id = manager.add(served.file, served.url, target)

    final = manager.wait(download_id, 30)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == "disk_full"
    on_disk = part_size(target)
    assert on_disk >= 400_000 and not target.exists()  # kept for a resume; nothing listed

    monkeypatch.setattr(shutil, "disk_usage", real)
    fake_hub.rate_limit = None
    manager.resume(download_id)
    assert manager.wait(download_id, 30).status == "done"
    assert gets(fake_hub)[-1].range == f"bytes={on_disk}-"
    assert_verified(target, served.data)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_the_kernel_refuses_is_a_full_disk(
    fake_hub: FakeHub, models: Path, state_dir: Path, make_manager: Factory
) -> None:
    """Real: the kernel refuses the write past RLIMIT_FSIZE (EFBIG) in the child."""
    served = serve(fake_hub, 2 * MiB)
    target = target_of(models, served)
    spec = _child_spec(served, target, models, state_dir) | {"fsize_limit": MiB}
    child = _child(spec)
    out, err = child.communicate(timeout=60)

    assert child.returncode == 1, err
    final = json.loads(out.strip().splitlines()[-1])
    assert (final["final"], final["kind"]) == ("failed", "disk_full"), final
    assert part_size(target) == MiB and not target.exists()
    [record] = state_records(state_dir)
    assert record["status"] == "failed" and record["error"]["kind"] == "disk_full"

    manager = make_manager()
    [listed] = manager.list()
    manager.resume(listed.id)
    assert manager.wait(listed.id, 30).status == "done"
    assert gets(fake_hub)[-1].range == f"bytes={MiB}-"
    assert_verified(target, served.data)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs (root and mount needed; skipped where that cannot run)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "llmos-test", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        with contextlib.suppress(OSError):
            subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def test_a_real_small_disk(
    fake_hub: FakeHub,
    small_disk: Path,
    make_manager: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing replaced: a 4 MiB tmpfs. Too big a file is refused before a request; a
    disk filled by another program mid-file gives a real ENOSPC (the periodic free-space
    check is pushed out of the way so that the write is what fails)."""
    big = serve(fake_hub, 5 * MiB, seed=8)
    manager = make_manager(min_free_bytes=0)
    final = manager.wait(manager.add(big.file, big.url, target_of(small_disk, big)), 10)
    assert final.status == "failed"
    assert final.error is not None and final.error.kind == "disk_full"
    assert gets(fake_hub) == []

    monkeypatch.setattr(downloads_module, "DISK_CHECK_INTERVAL", 1e9)
    served = serve(fake_hub, 3 * MiB, seed=9)
    fake_hub.clear_requests()
    fake_hub.rate_limit = MiB
    target = target_of(small_disk, served)
    download_id = manager.add(served.file, served.url, target)
    wait_until(lambda: part_size(target) >= 300_000)
    filler = small_disk / "another-program.bin"
    with contextlib.suppress(OSError), filler.open("wb") as handle:
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()

    final = manager.wait(download_id, 30)

    assert final.status == "failed"
    assert final.error is not None and final.error.kind == "disk_full"
    assert "The disk is full" in final.error.message
    on_disk = part_size(target)
    assert on_disk >= 300_000 and not target.exists()

    filler.unlink()
    fake_hub.rate_limit = None
    manager.resume(download_id)
    assert manager.wait(download_id, 30).status == "done"
    assert gets(fake_hub)[-1].range == f"bytes={on_disk}-"
    assert_verified(target, served.data)


def test_a_redirect_to_another_host_is_followed_without_the_token(
    fake_hub: FakeHub, models: Path, make_manager: Factory
) -> None:
    """The Hub answers a file's resolve URL with a redirect to its CDN (another host):
    the download follows it, with Range, also after a dropped connection, and the token,
    which the Hub client adds only for the endpoint, never reaches the CDN."""
    from llmos_desktop.core.models.hub import HubClient

    served = serve(fake_hub, 2 * MiB + 5)
    token = "hf_" + "c" * 34
    endpoint_log: list[tuple[str, str | None, str | None]] = []  # path, range, authorization

    class Endpoint(http.server.BaseHTTPRequestHandler):
        """The Hub's endpoint: every file is on the CDN (the fake Hub, on another port)."""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            endpoint_log.append(
                (self.path, self.headers.get("Range"), self.headers.get("Authorization"))
            )
            self.send_response(302)
            self.send_header("Location", f"{fake_hub.url}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    fake_hub.drop_after = 700_000
    fake_hub.fault_limit = 1  # the first transfer is cut; the retry goes through
    with LocalServer(Endpoint) as endpoint:
        hub = HubClient(endpoint.url, token=token)
        try:
            manager = make_manager(headers=hub.headers_for)
            url = served.url.replace(fake_hub.url, endpoint.url)
            target = target_of(models, served)
            final = manager.wait(manager.add(served.file, url, target, root=models), 30)
        finally:
            hub.close()

    assert final.status == "done", final
    assert_verified(target, served.data)
    assert [auth for _path, _range, auth in endpoint_log] == [f"Bearer {token}"] * 2
    cdn = gets(fake_hub)
    assert len(cdn) == 2 and all(get.authorization is None for get in cdn)
    assert cdn[0].range is None and cdn[1].range == f"bytes={cdn[0].bytes_sent}-"
    assert endpoint_log[1][1] == cdn[1].range  # the Range goes along the redirect
