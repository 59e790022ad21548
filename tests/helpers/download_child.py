"""A process that runs one ``DownloadManager`` download, for tests that kill it or limit it.

``python -m tests.helpers.download_child SPEC_JSON`` (from the repository root). The spec:
``state_dir``, ``url``, ``repo_id``, ``path``, ``size``, ``sha256``, ``revision``,
``target``, ``root``, and optionally ``stall_seconds``, ``retries``, ``min_free_bytes``,
``fsize_limit`` (bytes: ``RLIMIT_FSIZE`` is set before anything is written, so the
kernel refuses writes past it with EFBIG, as a file system's size limit would; Python
ignores SIGXFSZ, so the write fails instead of killing the process).

It prints one JSON line per listener call (``status``, ``received``, ``total``) so the
test can wait for bytes on disk before it kills it, and a last line ``{"final": ...}``
with the status and error kind when the download stops. Exit 0 when it ends verified, 1
otherwise. A real process and a real manager: SIGKILL leaves exactly what a killed app or
``llmos models pull`` would leave.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    spec: dict[str, Any] = json.loads(argv[0])
    limit = spec.get("fsize_limit")
    if limit is not None:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), hard))

    import httpx

    from llmos_desktop.core.models.downloads import DownloadManager
    from llmos_desktop.core.models.types import DownloadProgress, RemoteFile

    printing = threading.Lock()  # listener calls come on the worker thread

    def report(progress: DownloadProgress) -> None:
        line = {"status": progress.status, "received": progress.received, "total": progress.total}
        with printing:
            print(json.dumps(line), flush=True)

    manager = DownloadManager(
        Path(spec["state_dir"]),
        client=httpx.Client,
        headers=lambda url: {"User-Agent": "download-child"},
        stall_seconds=float(spec.get("stall_seconds", 5.0)),
        retries=int(spec.get("retries", 3)),
        backoff=0.05,
        min_free_bytes=int(spec.get("min_free_bytes", 0)),
        resume_on_start=False,
    )
    try:
        manager.subscribe(report)
        file = RemoteFile(
            repo_id=spec["repo_id"],
            path=spec["path"],
            size=spec["size"],
            sha256=spec["sha256"],
            revision=spec.get("revision"),
        )
        download_id = manager.add(file, spec["url"], Path(spec["target"]), root=Path(spec["root"]))
        final = manager.wait(download_id)
    finally:
        manager.close()
    error = final.error
    print(
        json.dumps(
            {
                "final": final.status,
                "received": final.received,
                "kind": None if error is None else error.kind,
                "message": None if error is None else error.message,
            }
        ),
        flush=True,
    )
    return 0 if final.status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
