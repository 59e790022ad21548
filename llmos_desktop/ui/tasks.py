"""The asyncio tasks a page starts from its slots, in one place.

asyncio keeps only weak references to tasks, so a page holds the ones it starts; a task
that fails is logged (nothing else would see its exception); at close, ``cancel`` ends
them all and waits. Qt-free: only asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class PageTasks:
    """The running tasks of one page. ``what`` names it in the log ("chat", ...);
    ``on_done`` (optional) runs after each task ends, on the loop's thread."""

    def __init__(
        self, what: str, on_done: Callable[[asyncio.Task[Any]], None] | None = None
    ) -> None:
        self._what = what
        self._on_done = on_done
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task held until it ends."""
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self._what, exc_info=task.exception())
        if self._on_done is not None:
            self._on_done(task)

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    async def cancel(self, keep: Iterable[asyncio.Task[Any] | None] = ()) -> None:
        """Cancel every task (but those in ``keep``) and wait for them to end."""
        kept = set(keep)
        tasks = [task for task in self._tasks if task not in kept]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
