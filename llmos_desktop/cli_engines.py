"""``llmos engines``: the remote engines of Settings → Engines, on the command line.

    llmos engines add NAME URL [--api-key-env VAR] [--ca-file F] [--timeout S]
                               [--connect-timeout S] [--no-verify-tls] [--replace]
    llmos engines list [--json] [--no-check]
    llmos engines check NAME [--json]
    llmos engines key NAME (--api-key-env VAR | --clear)
    llmos engines rm NAME

Everything goes through ``EnginesService`` (core/engines/service.py) with the app's
folders (``LLMOS_HOME``), so an engine added here is in the window's picker and the
reverse. A key is never an argument (shell history and ``ps`` would show it): it is
read from the environment variable ``--api-key-env`` names, then kept in the system
keyring (else a 0600 file). ``llmos chat --engine NAME`` and ``llmos apps run ID
--engine NAME`` use the helpers at the end of this module.

Errors are one ``llmos: error: <reason>`` line on stderr: exit 2 for input that cannot
be right (a bad name or URL, an unset variable), 1 when something failed (no such
engine, an engine that does not answer as it should).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from llmos_desktop.cli_output import note as _note
from llmos_desktop.cli_output import print_json as _print_json
from llmos_desktop.cli_output import run_group
from llmos_desktop.cli_output import say as _say
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.engines.remote import RemoteEngine
    from llmos_desktop.core.engines.service import EnginesService
    from llmos_desktop.core.engines.types import EngineCheck
    from llmos_desktop.core.paths import AppPaths

__all__ = [
    "EngineChoiceError",
    "add_engines_commands",
    "open_remote_engine",
    "pick_remote_model",
    "run_engines",
]

T = TypeVar("T")

ADD_EPILOG = """\
URL is the OpenAI base URL, as an openai client takes it: http://gpu-box:8000/v1
(vLLM), http://host:9000/v1 (Triton's OpenAI frontend), http://host:8080/v1
(llama-server), http://host:11434/v1 (Ollama), or another 'llmos serve'.

The key is read from the environment variable --api-key-env names (never from
the command line, where shell history keeps it) and kept in the system keyring,
else in a file only you can read. It is sent to that URL's host and port only.

After adding, the engine is checked (reachable, key accepted, models); a failed
check is reported but the engine is kept, so that it can be fixed with --replace.
"""

LIST_EPILOG = """\
Each engine is checked (at once, each within its own timeouts) unless --no-check.

--json prints one JSON array, in the order the engines were added; each engine is
an object:
  name         string
  url          string: the OpenAI base URL
  reachable    boolean, or null with --no-check
  models       array of strings: the model ids it serves (empty when unchecked
               or failing)
  authorised   boolean, or null when it could not be told
  server_kind  string: "llmos", "llama-cpp-python", "llama.cpp", "vllm", "ollama",
               "triton", "tgi" or "unknown"
  error        object {"kind", "message"}, or null
  warnings     array of strings
  key          string or null: where the key is kept ("keyring", "file")
Fields may be added in later versions; these keep their names and meaning.
"""


def add_engines_commands(commands: Any) -> None:
    """Add ``llmos engines ...`` to the ``llmos`` parser's subcommands."""
    engines = commands.add_parser(
        "engines",
        help="add, list, check and remove remote OpenAI-compatible engines",
        description="Remote engines (vLLM, Triton, llama-server, Ollama, another llmos "
        "serve) that 'llmos chat --engine' and the window can use.",
    )
    engines.set_defaults(engines_parser=engines)
    actions = engines.add_subparsers(dest="engines_command", metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="add an engine",
        epilog=ADD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("name", metavar="NAME", help="letters, digits, . _ - (at most 64)")
    add.add_argument("url", metavar="URL", help="the OpenAI base URL, e.g. http://host:8000/v1")
    add.add_argument("--api-key-env", metavar="VAR", help="the environment variable with the key")
    add.add_argument("--ca-file", metavar="FILE", help="PEM file of the CAs to trust (https)")
    add.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds a reply may go without a byte before it is given up (default 300)",
    )
    add.add_argument(
        "--connect-timeout", type=float, metavar="S", help="seconds to connect (default 10)"
    )
    add.add_argument(
        "--no-verify-tls", action="store_true", help="do not check the TLS certificate (unsafe)"
    )
    add.add_argument(
        "--replace", action="store_true", help="replace an engine of that name (keeps its key)"
    )
    add.add_argument("--no-check", action="store_true", help="do not contact the engine now")

    listing = actions.add_parser(
        "list",
        help="the engines, checked",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print JSON (fields below)")
    listing.add_argument("--no-check", action="store_true", help="do not contact the engines")

    check = actions.add_parser(
        "check", help="is it reachable, is the key accepted, which models (exit 1 if not ok)"
    )
    check.add_argument("name", metavar="NAME")
    check.add_argument("--json", action="store_true", help="print one JSON object (as in list)")

    key = actions.add_parser("key", help="set or forget an engine's API key")
    key.add_argument("name", metavar="NAME")
    which = key.add_mutually_exclusive_group(required=True)
    which.add_argument("--api-key-env", metavar="VAR", help="the environment variable with the key")
    which.add_argument("--clear", action="store_true", help="forget the key")

    remove = actions.add_parser("rm", help="remove an engine (and forget its key)")
    remove.add_argument("name", metavar="NAME")


def run_engines(args: argparse.Namespace) -> int:
    """Run ``llmos engines ACTION``; the exit status. Errors are printed as one line."""
    from llmos_desktop.core.engines.registry import EngineRegistryError
    from llmos_desktop.core.engines.types import RemoteAPIError, RemoteConnectionError

    def registry(exc: EngineRegistryError) -> tuple[str, int]:
        return one_line(exc.message, 400), 2 if exc.kind == "invalid" else 1

    def remote(exc: Exception) -> tuple[str, int]:
        return one_line(str(exc), 400), 1

    return run_group(
        args,
        "engines",
        lambda action: _ACTIONS[action](args),
        [
            (EngineRegistryError, registry),
            (RemoteAPIError, remote),
            (RemoteConnectionError, remote),
        ],
    )


# --- the actions ----------------------------------------------------------------------


def _add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from llmos_desktop.cli import CliError
    from llmos_desktop.core.engines.types import RemoteEngineConfig

    values: dict[str, Any] = {"name": args.name, "base_url": args.url}
    if args.no_verify_tls:
        values["verify_tls"] = False
    if args.timeout is not None:
        values["timeout_s"] = args.timeout
    if args.connect_timeout is not None:
        values["connect_timeout_s"] = args.connect_timeout
    if args.ca_file:
        values["ca_file"] = _ca_file(args.ca_file)
    try:
        config = RemoteEngineConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        option = {
            "name": "NAME",
            "base_url": "URL",
            "timeout_s": "--timeout",
            "connect_timeout_s": "--connect-timeout",
            "ca_file": "--ca-file",
        }.get(field, field)
        message = str(error["msg"]).removeprefix("Value error, ")
        if field == "name" and error["type"] == "string_pattern_mismatch":
            message = "use letters, digits, . _ - (at most 64, starting with a letter or digit)"
        raise CliError(f"{option}: {message}") from None
    key = _key_from_env(args.api_key_env) if args.api_key_env else None
    service = _service()
    place = service.add(config, key, replace=args.replace)
    where = {"keyring": "in the system keyring", "file": "in a private file (no keyring here)"}
    note = f", key kept {where[place]}" if place else ""
    _say(f"added engine {config.name}: {config.base_url}{note}")
    if args.no_check:
        return 0
    check = _run(lambda: _checked(service, [config.name]))[0]
    _print_check(check, sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    service = _service()
    engines = service.list()
    checks: dict[str, EngineCheck] = {}
    if not args.no_check and engines:
        names = [config.name for config in engines]
        checks = {c.name: c for c in _run(lambda: _checked(service, names))}
    if args.json:
        rows = [
            _engine_json(config.name, config.base_url, checks.get(config.name), service)
            for config in engines
        ]
        _print_json(rows)
        return 0
    if not engines:
        _note("no engines yet: add one with 'llmos engines add NAME URL'")
        return 0
    for config in engines:
        check = checks.get(config.name)
        if check is None:
            status = "-"
        elif check.ok:
            status = f"ok, {len(check.models)} model(s): {', '.join(check.models[:6])}"
            if len(check.models) > 6:
                status += ", …"
        else:
            assert check.error is not None
            status = f"{check.error.kind.value}"
        _say(f"{config.name}\t{config.base_url}\t{status}")
    return 0


def _check(args: argparse.Namespace) -> int:
    service = _service()
    config = service.get(args.name)
    check = _run(lambda: _checked(service, [config.name]))[0]
    if args.json:
        _print_json(_engine_json(config.name, config.base_url, check, service))
    else:
        _print_check(check, sys.stdout)
    return 0 if check.ok else 1


def _key(args: argparse.Namespace) -> int:
    service = _service()
    config = service.get(args.name)
    if args.clear:
        service.set_api_key(config.name, None)
        _say(f"the key of engine {config.name} is forgotten")
        return 0
    place = service.set_api_key(config.name, _key_from_env(args.api_key_env))
    where = "the system keyring" if place == "keyring" else "a private file (no keyring here)"
    _say(f"the key of engine {config.name} is kept in {where}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    removed = _service().remove(args.name)
    _say(f"removed engine {removed.name} ({removed.base_url}); its key is forgotten")
    return 0


_ACTIONS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "add": _add,
    "list": _list,
    "check": _check,
    "key": _key,
    "rm": _remove,
}


# --- for llmos chat --engine and llmos apps run --engine -------------------------------


class EngineChoiceError(Exception):
    """No usable remote model was chosen; ``code`` is the exit status it asks for."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def open_remote_engine(paths: AppPaths) -> EnginesService:
    """The engines service of ``paths`` (its file's problems noted on stderr)."""
    from llmos_desktop.core.engines.service import EnginesService

    service = EnginesService(paths)
    _note_problems(service)
    return service


def pick_remote_model(
    service: EnginesService,
    engine: str,
    model: str | None,
    call: Callable[[Coroutine[Any, Any, list[str]]], list[str]],
) -> RemoteEngine:
    """``model`` of ``engine``, else the engine's one model; an ``EngineChoiceError`` that
    says what to choose when it serves several or none (the caller turns it into its
    CliError). ``call`` runs a coroutine on the command's loop."""
    from llmos_desktop.core.engines.registry import EngineRegistryError
    from llmos_desktop.core.engines.types import RemoteAPIError, RemoteConnectionError

    try:
        config = service.get(engine)
        if model:
            return service.engine_for(config.name, model)
        models = call(service.models(config.name))
    except EngineRegistryError as exc:
        raise EngineChoiceError(exc.message, code=2 if exc.kind == "invalid" else 1) from None
    except (RemoteAPIError, RemoteConnectionError) as exc:
        raise EngineChoiceError(one_line(str(exc), 400), code=1) from None
    if len(models) == 1:
        return service.engine_for(config.name, models[0])
    if not models:
        raise EngineChoiceError(f"engine {config.name} serves no model now", code=1)
    shown = ", ".join(models[:10]) + (", …" if len(models) > 10 else "")
    raise EngineChoiceError(
        f"engine {config.name} serves several models; choose one with --model ({shown})"
    )


# --- helpers -----------------------------------------------------------------------------


def _service() -> EnginesService:
    from llmos_desktop.core.paths import app_paths

    return open_remote_engine(app_paths().ensure())


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


async def _checked(service: EnginesService, names: list[str]) -> list[EngineCheck]:
    try:
        return list(await asyncio.gather(*(service.check(name) for name in names)))
    finally:
        await service.aclose()


def _key_from_env(variable: str) -> str:
    from llmos_desktop.cli import CliError
    from llmos_desktop.core.engines.registry import check_api_key

    value = os.environ.get(variable)
    if not value:
        raise CliError(
            f"--api-key-env: the environment variable {one_line(variable, 60)} is not set"
        )
    return check_api_key(value)


def _ca_file(value: str) -> str:
    """The CA file as an absolute path, checked now: a typo is said at once, not at the
    first chat."""
    import ssl

    from llmos_desktop.cli import CliError

    path = Path(value).expanduser().resolve()
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise CliError(
            f"--ca-file: {path} is not a readable PEM file of certificates ({exc})"
        ) from None
    return str(path)


def _engine_json(
    name: str, url: str, check: EngineCheck | None, service: EnginesService
) -> dict[str, Any]:
    return {
        "name": name,
        "url": url,
        "reachable": check.reachable if check is not None else None,
        "models": list(check.models) if check is not None else [],
        "authorised": check.authorised if check is not None else None,
        "server_kind": check.server_kind.value if check is not None else "unknown",
        "error": (
            {"kind": check.error.kind.value, "message": check.error.message}
            if check is not None and check.error is not None
            else None
        ),
        "warnings": list(check.warnings) if check is not None else [],
        "key": service.key_place(name),
    }


def _print_check(check: EngineCheck, stream: Any) -> None:
    lines = [f"engine {check.name}: {check.base_url}"]
    lines.append(f"  reachable:  {'yes' if check.reachable else 'no'}")
    if check.authorised is not None:
        lines.append(f"  key:        {'accepted' if check.authorised else 'refused'}")
    if check.reachable and check.error is None:
        lines.append(f"  server:     {check.server_kind.value}")
        lines.append(f"  models:     {', '.join(check.models)}")
    if check.latency_s is not None:
        lines.append(f"  answered in {check.latency_s * 1000:.0f} ms")
    for warning in check.warnings:
        lines.append(f"  warning: {warning}")
    if check.error is not None:
        lines.append(f"  problem ({check.error.kind.value}): {check.error.message}")
    print("\n".join(lines), file=stream, flush=True)


def _note_problems(service: EnginesService) -> None:
    try:
        service.list()
    except Exception:  # reported by the action that reads it
        return
    for problem in service.problems:
        _note(f"llmos: note: {one_line(problem, 400)}")
