"""PageTasks: what a page's tasks need from it (held, failures logged, cancelled at close)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from llmos_desktop.ui.tasks import PageTasks


def test_a_failed_task_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    ended: list[asyncio.Task[object]] = []

    async def fail() -> None:
        raise ValueError("the service said no")

    async def main() -> None:
        tasks = PageTasks("example page", ended.append)
        task = tasks.start(fail())
        assert tasks and len(tasks) == 1
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback
        assert not tasks
        assert ended == [task]

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    failures = [r for r in caplog.records if "example page task failed" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None and "the service said no" in str(
        failures[0].exc_info[1]
    )


def test_cancel_ends_every_task_but_the_kept_ones() -> None:
    async def main() -> tuple[bool, bool, str]:
        tasks = PageTasks("example page")
        release = asyncio.Event()

        async def wait() -> str:
            await release.wait()
            return "written"

        waiting = tasks.start(asyncio.sleep(3600))
        saving = tasks.start(wait())
        await asyncio.sleep(0)
        cancel = asyncio.ensure_future(tasks.cancel(keep=[saving, None]))
        await asyncio.sleep(0.05)
        assert waiting.cancelled() and not saving.done()
        release.set()
        await cancel
        return waiting.cancelled(), saving.cancelled(), await saving

    assert asyncio.run(main()) == (True, False, "written")
