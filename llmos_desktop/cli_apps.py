"""``llmos apps``: the Store pane on the command line, through the same AppsService.

    llmos apps list [--json] [--refresh]     the catalogue and what is installed
    llmos apps install FILE_OR_ID [--replace]
    llmos apps remove ID
    llmos apps export ID FILE
    llmos apps run ID [--model PATH] --input NAME=VALUE ... [--max-tokens N]
    llmos apps run ID --engine NAME [--model ID] --input NAME=VALUE ...
    llmos apps publish ID... --repo OWNER/NAME

Everything goes through core/apps/service.py with the app's folders (``LLMOS_HOME``)
and settings (the settings file is only read), so an app installed here shows in the
window and the reverse. The remote catalogue is the ``apps_catalogue_repo`` setting,
read through the Hub endpoint, proxy and token of the Models pane.

``run`` uses the engine the way ``llmos chat`` does (its own supervised engine child;
the model is --model, else the window's last model, else the starter), checks the
inputs and renders the prompt before it starts the engine, and streams the reply to
stdout. A structured app prints its result as JSON once it parsed and followed the
app's schema, and nothing else on stdout.

Errors are one ``llmos: error: <reason>`` line on stderr and a non-zero exit: 2 for
input that cannot be right (a missing or invalid --input, an unknown option), 1 when
something failed (no such app, a refused file, the engine, a result that does not
follow the schema), 130 when stopped with Ctrl+C.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from llmos_desktop.cli_output import note as _note
from llmos_desktop.cli_output import print_json as _print_json
from llmos_desktop.cli_output import run_group
from llmos_desktop.cli_output import say as _say
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.apps.manifest import AppError, AppManifest
    from llmos_desktop.core.apps.service import AppsService, CatalogueItem
    from llmos_desktop.core.paths import AppPaths
    from llmos_desktop.core.settings import Settings

__all__ = ["add_apps_commands", "run_apps"]

LIST_EPILOG = """\
The catalogue: the apps that come with LLMOS Desktop, the remote catalogue of the
settings (the last index read; --refresh reads it again), and every installed app.

--json prints one JSON array, sorted by name; each app is an object:
  id                 string: what install, run, remove and export take
  name               string: the app's name (English)
  names              object: the name by locale ("en", "zh_CN", ...)
  description        string (English)
  version            string: the catalogue's version (the installed one for an
                     app no catalogue lists)
  mode               string: "form", "structured" or "chat"
  category           string
  source             string: "builtin", "remote" or "installed" (no catalogue)
  installed          boolean
  installed_version  string or null
  update_available   boolean: a catalogue has a newer version than the installed
  inputs             array of objects, one per input, in order:
    name             string: what --input NAME=VALUE takes
    type             string: "text", "multiline", "choice", "number" or "toggle"
    required         boolean
    default          string, number, boolean or null
    choices          array of strings (choice inputs; else empty)
  examples           array of objects, each a map of input name to value
Fields may be added in later versions; these keep their names and meaning.
"""

RUN_EPILOG = """\
Each --input gives one input as NAME=VALUE ('llmos apps list --json' lists an app's
inputs); a number is written as digits, a toggle as true/false (yes/no, on/off, 1/0).
Inputs not given take their defaults; a required one without a default must be given.

The model is --model, else the last model the window loaded, else the starter model.
With --engine NAME the app runs on that remote engine, and --model is one of its
model ids (not needed when it serves only one).
The reply streams to stdout; a structured app prints its result as JSON (indented)
once it is complete and follows the app's schema.
"""


def add_apps_commands(commands: Any) -> None:
    """Add ``llmos apps ...`` to the ``llmos`` parser's subcommands."""
    apps = commands.add_parser(
        "apps",
        help="list, install, run and share apps",
        description="LLM apps: installed ones, the built-in catalogue and a remote one.",
    )
    apps.set_defaults(apps_parser=apps)
    actions = apps.add_subparsers(dest="apps_command", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="the catalogue and the installed apps",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print JSON (fields below)")
    listing.add_argument(
        "--refresh", action="store_true", help="read the remote catalogue again first"
    )

    install = actions.add_parser(
        "install", help="install or update an app from a .llmapp file or the catalogue"
    )
    install.add_argument(
        "source", metavar="FILE_OR_ID", help="a .llmapp file, or the id of a catalogue app"
    )
    install.add_argument(
        "--replace",
        action="store_true",
        help="install even an older version, or other content under the installed version",
    )

    remove = actions.add_parser("remove", help="uninstall an app")
    remove.add_argument("id", metavar="ID")

    export = actions.add_parser("export", help="write an installed app to a .llmapp file")
    export.add_argument("id", metavar="ID")
    export.add_argument("file", metavar="FILE", help="the file (or a folder) to write")

    run = actions.add_parser(
        "run",
        help="run an app and stream its result to stdout",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("id", metavar="ID", help="an installed or catalogue app")
    run.add_argument(
        "--model",
        "-m",
        metavar="PATH",
        help="a .gguf model file; with --engine, the id of a model that engine serves",
    )
    run.add_argument(
        "--engine",
        "-e",
        metavar="NAME",
        help="run on a remote engine ('llmos engines list'), not the local one",
    )
    run.add_argument(
        "--input",
        "-i",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input's value (repeatable)",
    )
    run.add_argument("--max-tokens", type=int, metavar="N", help="the longest result, in tokens")

    publish = actions.add_parser(
        "publish",
        help="upload installed apps to a Hugging Face repository (a catalogue others add)",
        description="Upload apps and list them in the repository's index.json, with the "
        "Hugging Face token the Models page keeps (it needs write access).",
    )
    publish.add_argument("ids", nargs="+", metavar="ID", help="installed apps")
    publish.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the repository")


def run_apps(args: argparse.Namespace) -> int:
    """Run ``llmos apps ACTION``; the exit status. Errors are printed as one line."""
    from llmos_desktop.core.apps.manifest import AppError
    from llmos_desktop.core.models.types import ModelsError

    def app_error(exc: AppError) -> tuple[str, int]:
        return _app_error_text(exc), 2 if exc.kind in ("input", "template") else 1

    return run_group(
        args,
        "apps",
        lambda action: _ACTIONS[action](args),
        [
            (AppError, app_error),
            # the Hub settings (endpoint, proxy) the catalogue uses
            (ModelsError, lambda exc: (one_line(str(exc), 400), 1)),
        ],
    )


# --- the actions ----------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from llmos_desktop.core.apps.manifest import AppError

    with _service() as service:
        if args.refresh:
            try:
                service.refresh_remote()
            except AppError as exc:
                _note(f"llmos: note: the remote catalogue was not read: {_app_error_text(exc)}")
        items = service.catalogue()
        _note_problems(service)
        if args.json:
            _print_json([_item_json(item) for item in items])
            return 0
        if not items:
            _note("no apps")
            return 0
        rows = [_list_row(item) for item in items]
        header = ("ID", "VERSION", "MODE", "CATEGORY", "STATUS", "NAME")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
        for row in [header, *rows]:
            print("  ".join(row[i].ljust(widths[i]) for i in range(5)) + "  " + row[5])
        return 0


def _install(args: argparse.Namespace) -> int:
    from llmos_desktop.core.apps.manifest import AppError
    from llmos_desktop.core.apps.package import read_llmapp

    with _service() as service:
        source: Path | str = args.source
        path = Path(args.source).expanduser()
        if path.exists() or args.source.endswith(".llmapp") or "/" in args.source:
            source = path
            app_id = read_llmapp(path).id
        else:
            app_id = args.source
        before = None
        with contextlib.suppress(AppError):
            before = service.store.get(app_id)
        app = service.install(source, replace=args.replace)
        if before is None:
            _say(f"installed {app.id} {app.version} ({one_line(app.name, 60)})")
        elif before.version != app.version:
            _say(f"updated {app.id} {before.version} -> {app.version}")
        elif before != app:
            _say(f"replaced {app.id} {app.version}")
        else:
            _say(f"{app.id} {app.version} is already installed")
        return 0


def _remove(args: argparse.Namespace) -> int:
    with _service() as service:
        service.remove(args.id)
        _say(f"removed {args.id}")
        return 0


def _export(args: argparse.Namespace) -> int:
    with _service() as service:
        target = service.export(args.id, Path(args.file).expanduser())
        _say(f"exported {args.id} to {target}")
        return 0


def _publish(args: argparse.Namespace) -> int:
    with _service() as service:
        url = service.publish(args.ids, args.repo)
        _say(f"published {', '.join(args.ids)} to {args.repo}: {url}")
        return 0


def _run(args: argparse.Namespace) -> int:
    from llmos_desktop.cli import CliError, _ChatEngineHandle, _pick_model, _Terminal
    from llmos_desktop.core.apps.manifest import inputs_from_strings
    from llmos_desktop.core.apps.runner import AppRunResult, prepare_run
    from llmos_desktop.core.chat.options import ChatOptions
    from llmos_desktop.core.models.gguf import ModelFileError, check_model_file

    texts = _input_texts(args.inputs)
    with _service() as service:
        app = service.find(args.id)
        values = inputs_from_strings(app, texts)
        settings = service.settings
        paths = service.paths
        # Inputs and the prompt are checked before an engine starts: a mistake costs
        # a moment, not a model load.
        prepare_run(app, values, max_tokens=args.max_tokens)
        if args.engine:
            return _run_remote(args, service, app, values)
        options = ChatOptions.from_settings(settings)
        model = _pick_model(args, options, settings, paths)
        spec = options.model_load(model, settings.load)
        try:
            check_model_file(spec.path, n_ctx=spec.n_ctx)
        except ModelFileError as exc:
            raise CliError(exc.message, code=1) from exc
        terminal = _Terminal(False)
        result = AppRunResult(mode=app.mode)
        with _ChatEngineHandle(paths, settings) as handle:
            handle.load(spec)
            runner = service.runner(handle.engine)

            async def consume() -> None:
                async for piece in runner.run(
                    app, values, result=result, max_tokens=args.max_tokens
                ):
                    if app.mode != "structured":
                        terminal.text(piece)

            try:
                handle.runner.call(consume())
            finally:
                terminal.end_line()
        if app.mode == "structured":
            _print_json(result.data)
        if result.chat.stopped_by == "max_tokens" and app.mode != "structured":
            _note("llmos: note: the result reached the token limit (--max-tokens)")
        return 0


def _run_remote(
    args: argparse.Namespace, service: AppsService, app: AppManifest, values: dict[str, object]
) -> int:
    """``apps run --engine``: the same runner on a remote engine's model; nothing loads."""
    from llmos_desktop.cli import CliError, _LoopThread, _Terminal
    from llmos_desktop.cli_engines import EngineChoiceError, open_remote_engine, pick_remote_model
    from llmos_desktop.core.apps.runner import AppRunResult

    engines = open_remote_engine(service.paths)
    loop = _LoopThread()
    try:
        try:
            engine = pick_remote_model(engines, args.engine, args.model, loop.call)
        except EngineChoiceError as exc:
            raise CliError(str(exc), code=exc.code) from None
        runner = service.runner_on(engines, engine.name, engine.model)
        terminal = _Terminal(False)
        result = AppRunResult(mode=app.mode)

        async def consume() -> None:
            async for piece in runner.run(app, values, result=result, max_tokens=args.max_tokens):
                if app.mode != "structured":
                    terminal.text(piece)

        try:
            loop.call(consume())
        finally:
            terminal.end_line()
    finally:
        with contextlib.suppress(BaseException):
            loop.call(engines.aclose())
        loop.close()
    if app.mode == "structured":
        _print_json(result.data)
    if result.chat.finish_reason == "length" and app.mode != "structured":
        _note("llmos: note: the result reached the token limit (--max-tokens)")
    return 0


_ACTIONS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "list": _list,
    "install": _install,
    "remove": _remove,
    "export": _export,
    "run": _run,
    "publish": _publish,
}


# --- helpers -----------------------------------------------------------------------------


def _input_texts(pairs: Sequence[str]) -> dict[str, str]:
    from llmos_desktop.cli import CliError

    texts: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CliError(f"--input takes NAME=VALUE, not {one_line(pair, 60)!r}")
        if name in texts:
            raise CliError(f"--input {one_line(name, 40)} is given twice")
        texts[name] = value
    return texts


@contextlib.contextmanager
def _service() -> Iterator[AppsService]:
    """The service with the app's folders and settings (read only: the window owns the
    file); warnings of the apps core go to a log file, not between the output lines."""
    from llmos_desktop.core.apps.service import AppsService
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.core.settings import load_settings

    paths = app_paths().ensure()
    _logging(paths)
    settings: Settings = load_settings(paths.settings_file)
    service = AppsService(paths, settings)
    try:
        yield service
    finally:
        service.close()


def _logging(paths: AppPaths) -> None:
    import logging

    logger = logging.getLogger("llmos_desktop")
    if not logger.handlers:
        handler = logging.FileHandler(paths.logs / "apps-cli.log", encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _note_problems(service: AppsService) -> None:
    for problem in service.store.problems:
        _note(f"llmos: note: {problem.path} is not a valid app: {one_line(problem.message)}")
    for remote in service.remote_problems:
        _note(f"llmos: note: remote app {remote.app_id} left out: {one_line(remote.message)}")


def _item_json(item: CatalogueItem) -> dict[str, Any]:
    app = item.app
    return {
        "id": app.id,
        "name": app.name,
        "names": {locale: text.name for locale, text in app.localized.items()},
        "description": app.display_description("en"),
        "version": app.version,
        "mode": app.mode,
        "category": app.category,
        "source": item.source,
        "installed": item.installed is not None,
        "installed_version": item.installed.version if item.installed is not None else None,
        "update_available": item.update_available,
        "inputs": [
            {
                "name": field.name,
                "type": field.type,
                "required": field.required,
                "default": field.default,
                "choices": field.choice_values(),
            }
            for field in app.inputs
        ],
        "examples": [dict(example) for example in app.examples],
    }


def _list_row(item: CatalogueItem) -> tuple[str, str, str, str, str, str]:
    if item.update_available:
        assert item.installed is not None
        status = f"update from {item.installed.version}"
    elif item.installed is not None:
        status = "installed"
    else:
        status = "-"
    return (
        item.id,
        item.app.version,
        item.app.mode,
        item.app.category,
        status,
        one_line(item.app.name, 60),
    )


def _app_error_text(error: AppError) -> str:
    return one_line(str(error), 400)
