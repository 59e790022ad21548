"""``llmos models``: the Models pane on the command line, through the same ModelsService.

    llmos models list [--json]          the library (models folder, in-place imports, starter)
    llmos models search QUERY [--json]  GGUF repositories on the Hub
    llmos models pull REPO FILE         download a model (every shard of a split one)
    llmos models import PATH [--in-place]
    llmos models rm NAME [--yes]

Everything goes through core/models/service.py, with the app's folders (``LLMOS_HOME``)
and settings (models folder, Hub endpoint, proxy; the settings file is only read), so a
download started here shows in the window and the reverse. The endpoint is the setting,
else ``HF_ENDPOINT``, else huggingface.co.

``pull`` draws a progress bar on stderr when stderr is a terminal, and prints plain
progress lines on stdout otherwise (logs, CI). It can be stopped at any moment (Ctrl+C,
or a kill): running the same command again resumes from the bytes on disk. The file is
renamed into the library only when its size and SHA-256 match what the Hub publishes.

Errors are one ``llmos: error: <reason>`` line on stderr and a non-zero exit: 1 when
something failed, 2 for a command that cannot be right (a bad argument, no --yes where
nothing can ask), 130 when stopped with Ctrl+C.

The ``--json`` shapes (fields may be added later; these keep their names and meaning):

``llmos models list --json`` prints one JSON array, sorted by name; each model is::

    id                 string: the model's key (its first file's path)
    name               string: the file name without ".gguf" and the shard part
    path               string: the file the engine is given (the first shard)
    files              array of strings: every file, shards in order
    size               integer: bytes, all files together
    in_place           boolean: used where it is (imported in place, or the starter)
    read_only          boolean: the starter model, part of the installation (no rm)
    architecture       string or null: general.architecture ("llama")
    parameters         integer or null: from general.size_label ("135M" -> 135000000)
    quant              string or null: "Q4_K_M", from the header, else the file name
    context_length     integer or null: the trained context, in tokens
    has_chat_template  boolean
    is_mmproj          boolean: a vision projector, not a model to chat with
    source_repo        string or null: the Hub repository it was downloaded from
    origin             object or null: made here by 'llmos lab quantize': source (the
                       file it was made from), qtype, created_at, source_sha256
    last_used          string or null: ISO 8601 time in UTC
    error              string or null: why it cannot be used (unreadable, incomplete,
                       parts missing); the other fields are then what could be read
    defaults           object: n_ctx, n_gpu_layers (integer, "auto" or null),
                       n_threads, chat_template (null: the app's default)

``llmos models search QUERY --json`` prints one JSON array of repositories, most
downloaded first; each is::

    repo_id        string: "owner/name"
    downloads      integer
    likes          integer
    last_modified  string or null: ISO 8601 time in UTC
    gated          false, "auto" or "manual"
    revision       string or null: the commit the files were listed at
    error          null, or {"kind": ..., "message": ...} when the files could not be
                   listed (a gated repository without a token: kind "auth" or "gated")
    files          array, every .gguf file (split shards each):
        path       string: the file in the repository (what 'pull' takes)
        size       integer or null: bytes
        sha256     string or null: the LFS SHA-256 the Hub publishes
        model      string: the model the file belongs to (shards share it)
        quant      string or null
        is_mmproj  boolean
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.cli_output import note as _note
from llmos_desktop.cli_output import print_json as _print_json
from llmos_desktop.cli_output import run_group
from llmos_desktop.cli_output import say as _say
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.models.service import ModelsService, PulledFile
    from llmos_desktop.core.models.types import (
        DownloadProgress,
        LocalModel,
        ModelsError,
        RepoDetails,
        RepoSummary,
    )
    from llmos_desktop.core.paths import AppPaths

__all__ = ["add_models_commands", "run_models"]

SEARCH_RESULTS: Final = 20
_SEARCH_WORKERS: Final = 4
_PLAIN_STEP: Final = 0.1  # a plain progress line every 10 %...
_PLAIN_INTERVAL: Final = 30.0  # ...or every 30 s, whichever comes first
_BAR_INTERVAL: Final = 0.2

LIST_EPILOG = """\
Models are the .gguf files in the models folder (Settings, or the data folder's
models/), models imported in place, and the starter model. A row with an error says
why the model cannot be used (an incomplete copy, parts of a split model missing...).

--json prints one JSON array, sorted by name; each model is an object:
  id                 string: the model's key (its first file's path)
  name               string: the file name without ".gguf" and the shard part
  path               string: the file the engine is given (the first shard)
  files              array of strings: every file, shards in order
  size               integer: bytes, all files together
  in_place           boolean: used where it is (imported in place, or the starter)
  read_only          boolean: the starter model, part of the installation (no rm)
  architecture       string or null, e.g. "llama"
  parameters         integer or null: from the file's size label ("135M")
  quant              string or null: e.g. "Q4_K_M", from the header, else the name
  context_length     integer or null: the trained context, in tokens
  has_chat_template  boolean
  is_mmproj          boolean: a vision projector, not a model to chat with
  source_repo        string or null: the Hub repository it was downloaded from
  origin             object or null: made here by 'llmos lab quantize': source,
                     qtype, created_at, source_sha256
  last_used          string or null: ISO 8601 time in UTC
  error              string or null: why it cannot be used
  defaults           object: n_ctx, n_gpu_layers (integer, "auto" or null),
                     n_threads, chat_template (null: the app's setting)
Fields may be added in later versions; these keep their names and meaning.
"""

SEARCH_EPILOG = """\
Repositories with GGUF files, most downloaded first (the first 20). The Hub is the
Settings' Hub endpoint, else $HF_ENDPOINT, else huggingface.co.

--json prints one JSON array; each repository is an object:
  repo_id        string: "owner/name" (what 'pull' takes)
  downloads      integer
  likes          integer
  last_modified  string or null: ISO 8601 time in UTC
  gated          false, "auto" or "manual"
  revision       string or null: the commit the files were listed at
  error          null, or {"kind", "message"} when the files could not be listed
                 (a gated repository without a token: kind "auth" or "gated")
  files          array of objects, one per .gguf file (each shard of a split model):
    path         string: the file in the repository (what 'pull' takes)
    size         integer or null: bytes
    sha256       string or null: the SHA-256 the Hub publishes
    model        string: the model the file belongs to (shards share it)
    quant        string or null
    is_mmproj    boolean
Fields may be added in later versions; these keep their names and meaning.
"""

PULL_EPILOG = """\
REPO is "owner/name" on the Hub; FILE is a .gguf file of it ('llmos models search
QUERY --json' lists them). For a split model, any of its parts downloads all of them.
The endpoint is the Settings' Hub endpoint, else $HF_ENDPOINT, else huggingface.co.
Stopped or killed, the same command resumes from the bytes already on disk. A file is
added to the library only when its SHA-256 matches what the Hub publishes.
"""


def add_models_commands(commands: Any) -> None:
    """Add ``llmos models ...`` to the ``llmos`` parser's subcommands."""
    models = commands.add_parser(
        "models",
        help="list, search, download, import and remove models",
        description="The models on this computer, and models on the Hugging Face Hub.",
    )
    models.set_defaults(models_parser=models)
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="the models in the library",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print JSON")

    search = actions.add_parser(
        "search",
        help="search the Hub for GGUF repositories",
        epilog=SEARCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("query", metavar="QUERY", help="words to look for")
    search.add_argument(
        "--json", action="store_true", help="print JSON, with every repository's GGUF files"
    )

    pull = actions.add_parser(
        "pull",
        help="download a model file from the Hub (resumable)",
        epilog=PULL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pull.add_argument("repo", metavar="REPO", help="the repository, owner/name")
    pull.add_argument("file", metavar="FILE", help="the .gguf file in the repository")

    importing = actions.add_parser("import", help="add a GGUF file from anywhere")
    importing.add_argument("path", metavar="PATH", help="the .gguf file")
    importing.add_argument(
        "--in-place",
        action="store_true",
        help="use the file where it is instead of copying it into the models folder",
    )

    remove = actions.add_parser(
        "rm", help="delete a model (a model imported in place is only forgotten)"
    )
    remove.add_argument("name", metavar="NAME", help="its name or path ('llmos models list')")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def run_models(args: argparse.Namespace) -> int:
    """Run ``llmos models ACTION``; the exit status. Errors are printed as one line."""
    from llmos_desktop.core.models.types import ModelsError

    return run_group(
        args,
        "models",
        lambda action: _ACTIONS[action](args),
        [(ModelsError, lambda exc: (_models_error_text(exc), 1))],
    )


# --- the actions ----------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    with _service() as service:
        library = service.library
        models = library.scan()
        _note_recovery(service)
        if args.json:
            rows = [_model_json(m, read_only=library.is_read_only(m)) for m in models]
            _print_json(rows)
            return 0
        if not models:
            _note(
                "no models yet: 'llmos models search QUERY' finds some on the Hub, "
                "'llmos models pull REPO FILE' downloads one"
            )
            return 0
        rows_text = [_list_row(m) for m in models]
        widths = [max(len(row[i]) for row in [_LIST_HEADER, *rows_text]) for i in range(5)]
        for row in [_LIST_HEADER, *rows_text]:
            cells = [row[i].ljust(widths[i]) for i in range(5)]
            print("  ".join(cells) + "  " + row[5])
        return 0


_LIST_HEADER: Final = ("NAME", "QUANT", "SIZE", "PARAMS", "CONTEXT", "DETAILS")


def _list_row(model: LocalModel) -> tuple[str, str, str, str, str, str]:
    details: list[str] = []
    if model.error is not None:
        details.append(f"error: {model.error}")
    else:
        if model.architecture:
            details.append(model.architecture)
        if model.is_mmproj:
            details.append("vision projector")
        elif not model.has_chat_template:
            details.append("no chat template")
        if model.source_repo:
            details.append(f"from {model.source_repo}")
        if model.origin is not None:
            details.append(f"{model.origin.qtype} of {Path(model.origin.source).name}")
        if model.in_place:
            details.append(f"in place: {model.path}")
    return (
        one_line(model.name, 60),
        model.quant or "-",
        _size(model.size),
        _parameters(model.parameters),
        str(model.context_length) if model.context_length else "-",
        one_line(", ".join(details), 200),
    )


def _search(args: argparse.Namespace) -> int:
    with _service() as service:
        hub = service.hub()
        page = hub.search(args.query, limit=SEARCH_RESULTS)
        if not args.json:
            if not page.repos:
                _note(f"no GGUF repositories match {one_line(args.query, 80)!r}")
                return 0
            rows = [
                (r.repo_id, f"{r.downloads:,}", f"{r.likes:,}", _date(r), _gated(r))
                for r in page.repos
            ]
            header = ("REPOSITORY", "DOWNLOADS", "LIKES", "UPDATED", "")
            widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
            for row in [header, *rows]:
                print(
                    f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  "
                    f"{row[2].rjust(widths[2])}  {row[3].ljust(widths[3])}  {row[4]}".rstrip()
                )
            _note("--json adds each repository's GGUF files and their sizes")
            return 0

        from llmos_desktop.core.models.types import ModelsError

        def details(repo: RepoSummary) -> RepoDetails | ModelsError:
            try:
                return hub.repo(repo.repo_id)
            except ModelsError as exc:
                return exc

        with ThreadPoolExecutor(_SEARCH_WORKERS, thread_name_prefix="models-search") as pool:
            found = list(pool.map(details, page.repos))
        _print_json([_repo_json(r, d) for r, d in zip(page.repos, found, strict=True)])
        return 0


def _pull(args: argparse.Namespace) -> int:
    from llmos_desktop.cli import CliError

    with _service(resume_downloads=False) as service:
        pulled = service.pull_files(args.repo, args.file)
        waiting = [p for p in pulled if p.download_id is not None]
        for item in pulled:
            if item.download_id is None:
                _say(f"{item.file.path}: already downloaded ({item.target})")
        if waiting:
            display = _Progress(_bar_wanted(), pulled)
            unsubscribe = service.downloads.subscribe(display.update)
            try:
                for item in waiting:
                    assert item.download_id is not None
                    display.update(service.downloads.get(item.download_id))
                    ended = _wait(service, item.download_id)
                    display.finish(ended)
                    if ended.status != "done":
                        raise CliError(_ended_text(ended), code=1)
                    service.library.record_source(
                        item.target, item.file.repo_id, item.file.revision
                    )
            except KeyboardInterrupt:
                display.stop()
                for item in waiting:
                    assert item.download_id is not None
                    with contextlib.suppress(Exception):
                        service.downloads.pause(item.download_id)
                _note("stopped; the same command resumes from the bytes already on disk")
                raise
            finally:
                unsubscribe()
        model = service.library.find(str(pulled[0].target))
        _say(f"{model.name}: {model.path}")
        if model.error is not None:
            raise CliError(f"{model.name} was downloaded but cannot be used: {model.error}", 1)
        return 0


def _wait(service: ModelsService, download_id: str) -> DownloadProgress:
    """Until the download ends; in short waits so that Ctrl+C is seen at once."""
    while True:
        progress = service.downloads.wait(download_id, timeout=0.5)
        if progress.status in ("done", "failed", "cancelled", "paused"):
            return progress


def _ended_text(progress: DownloadProgress) -> str:
    if progress.status == "failed" and progress.error is not None:
        return _models_error_text(progress.error)
    if progress.status == "paused":
        return f"the download of {progress.path} was paused; run the same command to resume"
    return f"the download of {progress.path} was {progress.status}"


def _import(args: argparse.Namespace) -> int:
    with _service() as service:
        source = Path(args.path).expanduser()
        bar = _CopyBar(source.name) if _bar_wanted() and not args.in_place else None
        try:
            model = service.library.import_file(
                source, copy=not args.in_place, progress=bar.update if bar else None
            )
        finally:
            if bar is not None:
                bar.clear()
        _note_recovery(service)
        if model.in_place:
            where = "used in place"
        elif source.absolute() in model.files:
            where = "already in the models folder"
        else:
            where = "copied into the library"
        _say(f"{model.name}: {model.path} ({where})")
        if model.error is not None:
            _note(f"note: {model.error}")
        return 0


def _remove(args: argparse.Namespace) -> int:
    from llmos_desktop.cli import CliError

    with _service() as service:
        library = service.library
        model = library.find(args.name)
        if library.is_read_only(model):
            raise CliError(
                f"{model.name} is the starter model: it comes with LLMOS Desktop and "
                "cannot be deleted",
                code=1,
            )
        if model.in_place:
            question = f"Forget {model.name}? Its file stays at {model.path}."
        else:
            count = len(model.files)
            files = "1 file" if count == 1 else f"{count} files"
            question = f"Delete {model.name} ({_size(model.size)}, {files} in {model.path.parent})?"
        if not args.yes:
            if not sys.stdin.isatty():
                raise CliError(f"{question} Add --yes to confirm", code=2)
            answer = _ask(f"{question} [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                _note("nothing was deleted")
                return 1
        library.remove(model.id)
        if model.in_place:
            _say(f"forgot {model.name}; its file is kept at {model.path}")
        else:
            _say(f"deleted {model.name}")
        return 0


_ACTIONS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "list": _list,
    "search": _search,
    "pull": _pull,
    "import": _import,
    "rm": _remove,
}


# --- the service ----------------------------------------------------------------------


@contextlib.contextmanager
def _service(*, resume_downloads: bool = True) -> Iterator[ModelsService]:
    """The service with the app's folders and settings (read only: the window owns the
    file); warnings of the models core go to a log file, not between the output lines."""
    from llmos_desktop.core.models.service import ModelsService
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.core.settings import load_settings

    paths = app_paths().ensure()
    _logging(paths)
    settings = load_settings(paths.settings_file)
    service = ModelsService(paths, settings, resume_downloads=resume_downloads)
    try:
        yield service
    finally:
        service.close()


def _logging(paths: AppPaths) -> None:
    import logging

    logger = logging.getLogger("llmos_desktop")
    if not logger.handlers:
        handler = logging.FileHandler(paths.logs / "models-cli.log", encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _note_recovery(service: ModelsService) -> None:
    moved = service.library.recovered_from
    if moved is not None:
        _note(
            f"note: the models registry was damaged; it was kept as {moved} and a new one "
            "was started"
        )


# --- progress ---------------------------------------------------------------------------


def _bar_wanted() -> bool:
    return sys.stderr.isatty()


class _Progress:
    """Download progress: a bar on a terminal (stderr), plain lines otherwise (stdout).

    ``update`` is called on the download threads: a lock keeps lines whole.
    """

    def __init__(self, bar: bool, pulled: Sequence[PulledFile]) -> None:
        self._bar = bar
        self._lock = threading.Lock()
        self._ids = {p.download_id for p in pulled if p.download_id is not None}
        self._count = len(pulled)
        self._index = {p.download_id: i + 1 for i, p in enumerate(pulled)}
        self._last_fraction: dict[str, float] = {}
        self._last_time: dict[str, float] = {}
        self._last_status: dict[str, str] = {}
        self._drawn = 0.0
        self._stopped = False

    def update(self, progress: DownloadProgress) -> None:
        if progress.id not in self._ids:
            return
        with self._lock:
            if self._stopped:
                return
            if self._bar:
                self._draw_bar(progress)
            else:
                self._plain(progress)

    def finish(self, progress: DownloadProgress) -> None:
        with self._lock:
            if self._bar:
                self._draw_bar(progress, force=True)
                sys.stderr.write("\n" if progress.status == "done" else "\r\033[K")
                sys.stderr.flush()
            elif progress.status == "done":
                self._plain(progress)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._bar:
                sys.stderr.write("\n")
                sys.stderr.flush()

    def _label(self, progress: DownloadProgress) -> str:
        name = one_line(progress.path.rsplit("/", 1)[-1], 60)
        if self._count > 1:
            return f"[{self._index.get(progress.id, 1)}/{self._count}] {name}"
        return name

    def _plain(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        fraction = progress.received / progress.total if progress.total else 0.0
        status = progress.status
        changed = self._last_status.get(progress.id) != status
        step = fraction - self._last_fraction.get(progress.id, -1.0) >= _PLAIN_STEP
        late = now - self._last_time.get(progress.id, now) >= _PLAIN_INTERVAL
        if not (changed or (status == "downloading" and (step or late))):
            return
        self._last_status[progress.id] = status
        self._last_fraction[progress.id] = fraction
        self._last_time[progress.id] = now
        text = f"{self._label(progress)}: {_amount(progress)}"
        if status == "downloading":
            text += f" {_speed(progress)}"
        elif status == "retrying" and progress.error is not None:
            text += f" retrying (attempt {progress.attempt}): {one_line(str(progress.error), 160)}"
        elif status == "done":
            text += " verified"
        else:
            text += f" {status}"
        print(text.rstrip(), flush=True)

    def _draw_bar(self, progress: DownloadProgress, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _BAR_INTERVAL and progress.status == "downloading":
            return
        self._drawn = now
        columns = shutil.get_terminal_size((80, 24)).columns
        label = self._label(progress)
        tail = f" {_amount(progress)}"
        if progress.status == "downloading":
            tail += f" {_speed(progress)}"
        elif progress.status == "retrying":
            tail += " retrying…"
        elif progress.status in ("verifying", "done"):
            tail += " verified" if progress.status == "done" else " verifying…"
        width = max(10, min(40, columns - len(label) - len(tail) - 4))
        fraction = progress.received / progress.total if progress.total else 0.0
        filled = int(width * min(1.0, fraction))
        bar = "█" * filled + "░" * (width - filled)
        line = f"{label} {bar}{tail}"
        sys.stderr.write("\r\033[K" + line[: max(10, columns - 1)])
        sys.stderr.flush()


class _CopyBar:
    """A progress bar for ``import`` (copying a file can take a minute)."""

    def __init__(self, name: str) -> None:
        self._name = one_line(name, 60)
        self._drawn = 0.0

    def update(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._drawn < _BAR_INTERVAL and done < total:
            return
        self._drawn = now
        percent = 100 * done / total if total else 100.0
        sys.stderr.write(f"\r\033[Kcopying {self._name}: {percent:5.1f}% of {_size(total)}")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


# --- JSON -----------------------------------------------------------------------------


def _model_json(model: LocalModel, *, read_only: bool) -> dict[str, Any]:
    defaults = model.defaults
    return {
        "id": model.id,
        "name": model.name,
        "path": str(model.path),
        "files": [str(p) for p in model.files],
        "size": model.size,
        "in_place": model.in_place,
        "read_only": read_only,
        "architecture": model.architecture,
        "parameters": model.parameters,
        "quant": model.quant,
        "context_length": model.context_length,
        "has_chat_template": model.has_chat_template,
        "is_mmproj": model.is_mmproj,
        "source_repo": model.source_repo,
        "origin": asdict(model.origin) if model.origin is not None else None,
        "last_used": model.last_used.isoformat() if model.last_used else None,
        "error": model.error,
        "defaults": {
            "n_ctx": defaults.n_ctx,
            "n_gpu_layers": defaults.n_gpu_layers,
            "n_threads": defaults.n_threads,
            "chat_template": defaults.chat_template,
        },
    }


def _repo_json(repo: RepoSummary, details: RepoDetails | ModelsError) -> dict[str, Any]:
    from llmos_desktop.core.models.types import ModelsError

    error = details if isinstance(details, ModelsError) else details.access_error
    files: list[dict[str, Any]] = []
    if not isinstance(details, ModelsError):
        for model in details.models:
            for file in model.files:
                files.append(
                    {
                        "path": file.path,
                        "size": file.size,
                        "sha256": file.sha256,
                        "model": model.name,
                        "quant": model.quant,
                        "is_mmproj": model.is_mmproj,
                    }
                )
    return {
        "repo_id": repo.repo_id,
        "downloads": repo.downloads,
        "likes": repo.likes,
        "last_modified": repo.last_modified.isoformat() if repo.last_modified else None,
        "gated": repo.gated,
        "revision": None if isinstance(details, ModelsError) else details.revision,
        "error": None if error is None else {"kind": error.kind, "message": error.message},
        "files": files,
    }


# --- small helpers ----------------------------------------------------------------------


def _models_error_text(error: ModelsError) -> str:
    text = one_line(str(error), None)
    if error.kind in ("auth", "gated"):
        text += "; the token is kept by the app (its Models page)"
    return text


def _ask(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    try:
        return input()
    except EOFError:
        return ""


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _amount(progress: DownloadProgress) -> str:
    if progress.total:
        percent = 100 * progress.received / progress.total
        return f"{percent:5.1f}% of {_size(progress.total)}"
    return _size(progress.received)


def _speed(progress: DownloadProgress) -> str:
    text = f"{_size(int(progress.speed))}/s" if progress.speed > 0 else ""
    if progress.eta is not None and progress.speed > 0:
        minutes, seconds = divmod(int(progress.eta), 60)
        text += f", {minutes}:{seconds:02d} left"
    return text


def _parameters(n: int | None) -> str:
    if not n:
        return "-"
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}"
    return str(n)


def _date(repo: RepoSummary) -> str:
    return repo.last_modified.strftime("%Y-%m-%d") if repo.last_modified else "-"


def _gated(repo: RepoSummary) -> str:
    return "gated" if repo.gated else ""
