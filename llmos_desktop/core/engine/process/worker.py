"""The llama thread: the one thread that calls llama.cpp, and the executor in front of it.

llama.cpp's context is not thread-safe, so one thread owns it (``LlamaThread``). It runs
tasks in the order they were submitted, as the single-thread executor before it did; and
when a model serves several requests at once (``n_parallel`` > 1, ``slots.py``), it runs a
batched decode step whenever no task is waiting, so a new request's tasks (its prompt,
its admission to a slot) run between two steps of the requests already streaming.

``EngineExecutor`` is what the HTTP server runs its blocking calls on
(``runtime.executor``). With one sequence it hands every call to the llama thread, so a
generation runs there from start to end, exactly as before. With several, a call goes
to a pool of waiting threads instead: a generation then waits there for its slot's
result, and the runtime's methods hand their llama.cpp work to the llama thread
(``LlamaThread.call``).

Keep-alive lives here too: after ``idle_after`` seconds with no task and no step, the
thread calls ``on_idle`` once (the runtime unloads the model), and again only after
more work.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# Threads that wait for results with several sequences: more than any number of
# requests that can be served at once, so a waiting request never holds up a prompt.
_WAITING_THREADS = 64


class Stepper(Protocol):
    """Batched work the llama thread advances when no task waits (slots.SlotScheduler)."""

    @property
    def busy(self) -> bool: ...

    def step(self) -> None: ...


class _Task:
    __slots__ = ("args", "exclusive", "fn", "future", "kwargs")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        exclusive: bool,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.exclusive = exclusive
        self.future: Future[Any] = Future()

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class LlamaThread:
    """One thread, its FIFO of tasks, and (while a stepper is busy) its batched steps.

    An ``exclusive`` task (a load, an unload) runs only when the stepper is not busy: it
    waits at the head of the queue, and so does everything behind it, until the requests
    being served are done.
    """

    def __init__(self, name: str = "llama") -> None:
        self._cv = threading.Condition()
        self._tasks: collections.deque[_Task] = collections.deque()
        self._stopped = False
        self.stepper: Stepper | None = None
        # Keep-alive: on_idle() after this many seconds without work (None: never).
        self.idle_after: float | None = None
        self.on_idle: Callable[[], None] | None = None
        self._last_work = time.monotonic()
        self._idle_called = True  # nothing to unload before the first work
        self._ident: int | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        # As concurrent.futures does for its workers: at interpreter exit the task that
        # runs may finish (llama.cpp is never torn down under it); the rest are dropped.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            with contextlib.suppress(RuntimeError):  # already shutting down
                register(self._at_exit)

    # --- from any thread -------------------------------------------------------------

    def on_thread(self) -> bool:
        return threading.get_ident() == self._ident

    def submit(
        self, fn: Callable[..., T], /, *args: Any, exclusive: bool = False, **kwargs: Any
    ) -> Future[T]:
        task = _Task(fn, args, kwargs, exclusive)
        with self._cv:
            if self._stopped:
                raise RuntimeError("the llama thread has stopped")
            self._tasks.append(task)
            self._cv.notify()
        return task.future

    def call(self, fn: Callable[..., T], /, *args: Any, exclusive: bool = False) -> T:
        """``fn(*args)`` on the llama thread, waited for; at once when already on it."""
        if self.on_thread():
            return fn(*args)
        return self.submit(fn, *args, exclusive=exclusive).result()

    def queued(self) -> int:
        """Tasks waiting for the thread."""
        with self._cv:
            return len(self._tasks)

    def wake(self) -> None:
        """Look again at the stepper (it may have work now) and the keep-alive time."""
        with self._cv:
            self._cv.notify()

    def shutdown(self, cancel_futures: bool = True) -> None:
        with self._cv:
            self._stopped = True
            pending = list(self._tasks) if cancel_futures else []
            if cancel_futures:
                self._tasks.clear()
            self._cv.notify()
        for task in pending:
            task.future.cancel()

    def _at_exit(self) -> None:
        self.shutdown(cancel_futures=True)
        if not self.on_thread():
            self.thread.join()

    # --- on the llama thread ---------------------------------------------------------

    def run_pending(self) -> None:
        """Run the tasks that may run now, in order (from inside a step loop)."""
        while True:
            task = self._next_task()
            if task is None:
                return
            self._run_task(task)

    def _next_task(self) -> _Task | None:
        with self._cv:
            if self._tasks and (not self._tasks[0].exclusive or not self._busy()):
                return self._tasks.popleft()
        return None

    def _busy(self) -> bool:
        stepper = self.stepper
        return stepper is not None and stepper.busy

    def _run_task(self, task: _Task) -> None:
        try:
            task.run()
        finally:
            self._worked()

    def _worked(self) -> None:
        self._last_work = time.monotonic()
        self._idle_called = False

    def _run(self) -> None:
        self._ident = threading.get_ident()
        while True:
            task: _Task | None = None
            idle = False
            with self._cv:
                while True:
                    if self._stopped:
                        return
                    if self._tasks and (not self._tasks[0].exclusive or not self._busy()):
                        task = self._tasks.popleft()
                        break
                    if self._busy():
                        break
                    wait = self._idle_wait()
                    if wait is not None and wait <= 0:
                        idle = True
                        break
                    self._cv.wait(wait)
            if task is not None:
                self._run_task(task)
            elif idle:
                self._idle_called = True
                if self.on_idle is not None:
                    with contextlib.suppress(Exception):  # never takes the thread down
                        self.on_idle()
            else:
                stepper = self.stepper
                if stepper is not None:
                    try:
                        stepper.step()
                    finally:
                        self._worked()

    def _idle_wait(self) -> float | None:
        """Seconds until keep-alive's on_idle is due; None: not due at all."""
        if self.idle_after is None or self.on_idle is None or self._idle_called:
            return None
        return self._last_work + self.idle_after - time.monotonic()


class EngineExecutor(Executor):
    """``runtime.executor``: the llama thread itself with one sequence, a pool of waiting
    threads with several (``parallel``); see the module's docstring."""

    def __init__(self, llama: LlamaThread) -> None:
        self.llama = llama
        self.parallel = False
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self.parallel:
            return self.llama.submit(fn, *args, **kwargs)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=_WAITING_THREADS, thread_name_prefix="llama-wait"
                )
            pool = self._pool
        return pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.llama.shutdown(cancel_futures=cancel_futures)
        with self._lock:
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait and not self.llama.on_thread():
            self.llama.thread.join(timeout=10)
