"""The ``llmos`` command.

``llmos serve --model PATH`` runs the engine in the foreground as a public
OpenAI-compatible server: the same runtime and server code the app starts, with the
same defaults (loopback, token required). Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import io
import ipaddress
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO, cast

from pydantic import BaseModel, ValidationError

from llmos_desktop import __version__
from llmos_desktop.core.engine.contract import DEFAULT_PROMPT_CACHE_MB, ModelLoad
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


class _Tee(io.TextIOBase):
    """Writes to several text streams (the log file, and the terminal with --verbose)."""

    def __init__(self, *streams: TextIO) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def _serve(args: argparse.Namespace) -> int:
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
    spec = _load_spec(args)
    try:
        check_model_file(spec.path, n_ctx=spec.n_ctx)
    except ModelFileError as exc:
        raise CliError(exc.message) from exc

    from llmos_desktop.core.engine.process.child import bind_socket, serve

    # The port before the model: a port in use is said at once, not after the load.
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", code=1
        ) from exc

    from llmos_desktop.core.engine.process.runtime import (
        EngineRuntime,
        EngineRuntimeError,
        LogTap,
    )
    from llmos_desktop.core.engine.process.server.app import create_app
    from llmos_desktop.core.engine.process.server.config import LOOPBACK_HOSTS
    from llmos_desktop.core.paths import app_paths

    log_path = app_paths().ensure().logs / "serve.log"
    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the server
    log_stream = cast(TextIO, _Tee(log_file, sys.stderr)) if args.verbose else log_file
    runtime = EngineRuntime(cache_bytes=max(0, args.cache_mb) * 1024 * 1024, log=LogTap(log_stream))
    api_key = args.api_key or secrets.token_urlsafe(24)

    def progress(value: float, stage: str) -> None:
        sys.stderr.write(
            f"\rloading {os.path.basename(spec.path)}: {value * 100:5.1f}% {stage:<20}"
        )
        sys.stderr.flush()

    try:
        status = runtime.executor.submit(runtime.load, spec, progress).result()
    except EngineRuntimeError as exc:
        sys.stderr.write("\n")
        sock.close()
        raise CliError(f"{exc.message} (details in {log_path})", code=1) from exc
    sys.stderr.write("\n")
    port = sock.getsockname()[1]
    config = ServerConfig(
        token=api_key,
        allowed_hosts=LOOPBACK_HOSTS,
        any_host=not loopback,  # a LAN server is reached by any name; the key protects it
        cors_origins=tuple(args.cors_origin),
        stream_interval_s=args.stream_interval_ms / 1000,
    )
    app = create_app(runtime, config)
    shown = f"[{args.host}]" if ":" in args.host else args.host

    def ready() -> None:
        print(f"Serving {status['model']} at http://{shown}:{port}/v1", flush=True)
        print(_summary(status), flush=True)
        if args.api_key:
            print("API key: as given (--api-key / LLMOS_API_KEY)", flush=True)
        else:
            print(f"API key: {api_key}", flush=True)
        print(f"Log: {log_path}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)

    try:
        serve(app, sock, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
    return 0


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
