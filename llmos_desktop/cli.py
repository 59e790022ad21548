"""The ``llmos`` command.

``llmos serve --model PATH`` runs the engine in the foreground as a public
OpenAI-compatible server: the same runtime and server code the app starts, with the
same defaults (loopback, token required). Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from llmos_desktop import __version__
from llmos_desktop.core.engine.contract import DEFAULT_PROMPT_CACHE_MB, ModelLoad

if TYPE_CHECKING:
    from llmos_desktop.core.engine.control.service import Engine
from llmos_desktop.core.engine.process.server.config import ServerConfig


class CliError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmos", description="LLMOS Desktop command line.")
    parser.add_argument("--version", action="version", version=f"llmos {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="serve a GGUF model as an OpenAI-compatible API in the foreground"
    )
    _add_contract_options(serve, ModelLoad, short={"path": "-m"})
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)"
    )
    serve.add_argument(
        "--api-key",
        default=os.environ.get("LLMOS_API_KEY"),
        help="key clients must send as 'Authorization: Bearer KEY' (default: $LLMOS_API_KEY, "
        "else a random key is printed); required for a non-loopback --host",
    )
    serve.add_argument(
        "--control-key",
        default=os.environ.get("LLMOS_CONTROL_KEY"),
        help="a second key, for the control routes (/control/load, unload, status); "
        "without it they are open to this command only (default: $LLMOS_CONTROL_KEY). "
        "/control/load loads only from the models folder and the --model file",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        help="allow browser requests from this origin (repeatable)",
    )
    serve.add_argument(
        "--cache-mb",
        type=int,
        default=DEFAULT_PROMPT_CACHE_MB,
        help=f"RAM for cached conversation prefixes (default {DEFAULT_PROMPT_CACHE_MB})",
    )
    interval_ms = round(ServerConfig.stream_interval_s * 1000)
    serve.add_argument(
        "--stream-interval-ms",
        type=int,
        default=interval_ms,
        help="gather streamed tokens into at most one chunk per this many ms (default "
        f"{interval_ms}; 0: one chunk per token, for clients that count chunks as tokens)",
    )
    serve.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also print llama.cpp's own log (always written to the log file)",
    )
    return parser


def _add_contract_options(
    parser: argparse.ArgumentParser, model: type[BaseModel], *, short: Mapping[str, str]
) -> None:
    """One option per contract field that names its ``cli`` flag, with its help and default.

    Values are validated afterwards by the contract itself (``_load_spec``), so the bounds
    stay defined once.
    """
    fields = sorted(model.model_fields.items(), key=lambda item: not item[1].is_required())
    for name, info in fields:
        extra = info.json_schema_extra
        flag = extra.get("cli") if isinstance(extra, dict) else None
        if not isinstance(flag, str):
            continue
        annotation = str(info.annotation)
        kind: type = int if "int" in annotation else str
        flags = [flag, *([short[name]] if name in short else [])]
        metavar = "PATH" if name == "path" else ("N" if kind is int else "TEXT")
        if info.is_required():
            parser.add_argument(
                *flags, dest=name, type=kind, metavar=metavar, required=True, help=info.description
            )
            continue
        default = info.get_default()
        shown = "" if default is None else f" (default {default})"
        parser.add_argument(
            *flags,
            dest=name,
            type=kind,
            metavar=metavar,
            default=default,
            help=f"{info.description}{shown}",
        )


def _option_of(field: str) -> str:
    extra = ModelLoad.model_fields[field].json_schema_extra
    flag = extra.get("cli") if isinstance(extra, dict) else None
    return flag if isinstance(flag, str) else field


def _load_spec(args: argparse.Namespace) -> ModelLoad:
    """The ModelLoad the options describe; a bad value is a one-line error naming its option."""
    values = {name: getattr(args, name) for name in ModelLoad.model_fields if hasattr(args, name)}
    try:
        return ModelLoad(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = _option_of(str(error["loc"][0])) if error["loc"] else "options"
        raise CliError(f"{option}: {error['msg']} (got {error.get('input')!r})") from exc


def _serve(args: argparse.Namespace) -> int:
    """``llmos serve``: check, claim the port, then run the model in a supervised engine.

    The engine is a child process, as in the app: a model that makes llama.cpp abort
    (through ``/control/load``, or a crash at any time) kills the child, not this
    command, which restarts it with the last model that loaded.
    """
    from llmos_desktop.core.models.gguf import ModelFileError, check_model_file

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be between 0 and 65535, not {args.port}")
    if not 0 <= args.stream_interval_ms <= 1000:
        raise CliError(
            f"--stream-interval-ms must be between 0 and 1000, not {args.stream_interval_ms}"
        )
    loopback = _is_loopback(args.host)
    if not loopback and not args.api_key:
        raise CliError(f"binding to {args.host} (not loopback) requires --api-key")
    if args.control_key is not None and args.control_key == args.api_key:
        raise CliError("--control-key must differ from --api-key: programs get the API key")
    spec = _load_spec(args)
    try:
        check_model_file(spec.path, n_ctx=spec.n_ctx)
    except ModelFileError as exc:
        raise CliError(exc.message) from exc
    # The port before the model: a port in use is said at once, not after the load. A
    # restarted engine binds the same port again, so 0 is resolved here, once.
    port = _claim_port(args.host, args.port)

    import asyncio

    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.engine.control.supervisor import EngineSupervisor
    from llmos_desktop.core.engine.process.child import ChildOptions
    from llmos_desktop.core.paths import app_paths

    paths = app_paths().ensure()
    log_path = paths.logs / "serve.log"
    state_file = paths.cache / "serve-loaded.json"  # the last model the engine loaded
    state_file.unlink(missing_ok=True)
    api_key = args.api_key or secrets.token_urlsafe(24)
    options = ChildOptions(
        host=args.host,
        port=port,
        api_key=api_key,
        any_host=not loopback,  # a LAN server is reached by any name; the key protects it
        cors_origins=tuple(args.cors_origin),
        stream_interval_s=args.stream_interval_ms / 1000,
        # /control/load (with the control key) loads only from the models folder and
        # the file given here.
        load_roots=(str(paths.models), str(Path(spec.path).resolve())),
        state_file=str(state_file),
    )
    supervisor = EngineSupervisor(
        log_path=log_path,
        cache_bytes=max(0, args.cache_mb) * 1024 * 1024,
        options=options,
        control_token=args.control_key,
    )
    engine = Engine(supervisor)
    follower = _LogFollower(log_path) if args.verbose else None
    try:
        return asyncio.run(_run_server(engine, spec, args, api_key, port, log_path, state_file))
    except KeyboardInterrupt:
        return 0
    finally:
        if follower is not None:
            follower.stop()
        supervisor.stop()


async def _run_server(
    engine: Engine,
    spec: ModelLoad,
    args: argparse.Namespace,
    api_key: str,
    port: int,
    log_path: Path,
    state_file: Path,
) -> int:
    import asyncio

    from llmos_desktop.core.engine.control.client import EngineAPIError
    from llmos_desktop.core.engine.control.service import EngineUnavailable

    exits: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def on_exit(failure: object) -> None:  # on the supervisor's watcher thread
        loop.call_soon_threadsafe(exits.put_nowait, str(failure))

    engine.subscribe_exit(on_exit)
    name = os.path.basename(spec.path)
    status: dict[str, Any] = {}
    try:
        async for event in engine.load(spec):
            if event.get("type") == "progress":
                value = float(event.get("progress") or 0)
                stage = str(event.get("stage", ""))
                sys.stderr.write(f"\rloading {name}: {value * 100:5.1f}% {stage:<20}")
                sys.stderr.flush()
            elif event.get("type") == "loaded":
                status = dict(event.get("status") or {})
    except (EngineAPIError, EngineUnavailable) as exc:
        sys.stderr.write("\n")
        reason = exc.message if isinstance(exc, EngineAPIError) else exc.failure.message
        raise CliError(f"{reason} (details in {log_path})", code=1) from exc
    sys.stderr.write("\n")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Serving {status.get('model')} at http://{shown}:{port}/v1", flush=True)
    print(_summary(status), flush=True)
    for warning in status.get("warnings") or []:
        print(f"Note: {warning}", flush=True)
    if args.api_key:
        print("API key: as given (--api-key / LLMOS_API_KEY)", flush=True)
    else:
        print(f"API key: {api_key}", flush=True)
    print(f"Log: {log_path}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    while True:
        reason = await exits.get()
        print(f"llmos: the engine stopped: {reason} Restarting it…", file=sys.stderr, flush=True)
        engine.loaded = _last_loaded(state_file) or engine.loaded
        try:
            await engine.ensure_ready()
        except (EngineAPIError, EngineUnavailable) as exc:
            raise CliError(f"the engine could not be restarted: {exc}", code=1) from exc
        model = engine.loaded.path if engine.loaded else "no model"
        print(f"llmos: serving again ({os.path.basename(model)})", file=sys.stderr, flush=True)


def _last_loaded(state_file: Path) -> ModelLoad | None:
    """The model the engine had before it died: the last one its child recorded."""
    try:
        return ModelLoad.model_validate_json(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _claim_port(host: str, port: int) -> int:
    """``port`` (a free one for 0) if it can be bound on ``host`` now; else a one-line error."""
    from llmos_desktop.core.engine.process.child import bind_socket

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", code=1) from exc
    with sock:
        return int(sock.getsockname()[1])


class _LogFollower:
    """--verbose: prints what the engine appends to its log file, as it comes."""

    def __init__(self, path: Path) -> None:
        import threading

        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(0.2):
            self._copy()
        self._copy()

    def _copy(self) -> None:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return
        self._offset += len(data)
        if data:
            sys.stderr.write(data.decode("utf-8", "replace"))
            sys.stderr.flush()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(2)


def _summary(status: Mapping[str, Any]) -> str:
    """One line: what runs where, how big, with which chat template."""
    info = status.get("model_info") or {}
    model = ", ".join(
        str(part) for part in (info.get("architecture"), info.get("file_type")) if part
    )
    return (
        f"Model: {model or 'unknown'} on {status.get('backend', 'CPU')}, "
        f"context {status.get('n_ctx')} tokens, {status.get('n_threads')} threads; "
        f"chat template: {status.get('chat_template')}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "serve":
            return _serve(args)
    except CliError as exc:
        print(f"llmos: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback for a user; the log has details
        if os.environ.get("LLMOS_DEBUG"):
            raise
        print(f"llmos: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
