"""Processes: stopping everything started, free ports, and CPU accounting.

CPU is read per process and per thread (where the thread lives through the measure):
on Linux from ``/proc/PID/task/TID/schedstat`` in nanoseconds, elsewhere from psutil.
``OtherLoad`` measures how much CPU processes that are not ours used meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import psutil

if TYPE_CHECKING:
    from llmos_desktop.core.engine.control.supervisor import EngineSupervisor

PopenT = TypeVar("PopenT", bound="subprocess.Popen[Any]")

# --------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped in ``close``.
# --------------------------------------------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[Any]] = []
        self.supervisors: list[EngineSupervisor] = []

    def add(self, proc: PopenT) -> PopenT:
        self.popens.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc in self.popens:
            self.popens.remove(proc)

    def close(self) -> None:
        for supervisor in list(self.supervisors):
            with contextlib.suppress(Exception):
                supervisor.stop()
        self.supervisors.clear()
        for proc in list(self.popens):
            with contextlib.suppress(Exception):
                self.stop(proc)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------
# CPU accounting of a process (per thread where the thread lives through the measure)
# --------------------------------------------------------------------------------------


@dataclass
class CpuSnapshot:
    total: float
    threads: dict[int, float]


def _schedstat_threads(pid: int) -> dict[int, float] | None:
    """CPU seconds per thread from Linux's schedstat, in nanoseconds (psutil's per-thread
    times count 10 ms clock ticks: too coarse for an event loop's share of one reply)."""
    try:
        threads: dict[int, float] = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                threads[int(tid)] = int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    return threads


def cpu_snapshot(pid: int) -> CpuSnapshot | None:
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        threads = _schedstat_threads(pid)
        if threads is None:
            threads = {t.id: t.user_time + t.system_time for t in proc.threads()}
    except psutil.Error:
        return None
    return CpuSnapshot(times.user + times.system, threads)


@dataclass
class CpuUse:
    total: float
    main_thread: float  # the event loop in our engine and in uvicorn servers
    busiest_other: float  # our llama worker thread (one of the n_threads compute threads)


def cpu_delta(pid: int, before: CpuSnapshot | None, after: CpuSnapshot | None) -> CpuUse | None:
    if before is None or after is None:
        return None
    deltas = {
        tid: after.threads[tid] - before.threads.get(tid, 0.0)
        for tid in after.threads
        if tid in before.threads
    }
    main = deltas.pop(pid, 0.0)
    return CpuUse(after.total - before.total, main, max(deltas.values(), default=0.0))


def system_busy_s() -> float:
    """CPU seconds the whole machine was busy (all CPUs), counting time stolen by the host."""
    t = psutil.cpu_times()
    return sum(
        getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")
    )


def process_cpu_s(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


class OtherLoad:
    """CPU used by processes that are not ours while a measure runs, in cores."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = [os.getpid(), *pids]
        self.busy = system_busy_s()
        self.own = process_cpu_s(self.pids)
        self.t0 = time.perf_counter()

    def cores(self) -> float:
        wall = time.perf_counter() - self.t0
        other = (system_busy_s() - self.busy) - (process_cpu_s(self.pids) - self.own)
        return max(0.0, other / wall) if wall > 0 else 0.0
