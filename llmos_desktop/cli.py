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
from collections.abc import Sequence

from llmos_desktop import __version__

_OPTION_NAMES = {
    "n_ctx": "--ctx",
    "n_gpu_layers": "--gpu-layers",
    "n_threads": "--threads",
    "path": "--model",
}


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
    serve.add_argument("--model", "-m", required=True, help="path to a .gguf model file")
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
        "--ctx", type=int, default=4096, help="context size in tokens (default 4096)"
    )
    serve.add_argument(
        "--gpu-layers", type=int, default=0, help="layers to offload to the GPU (-1: all)"
    )
    serve.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: physical cores)"
    )
    serve.add_argument(
        "--chat-template", default=None, help="override the chat template (Jinja or a builtin name)"
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
        default=1024,
        help="RAM for cached conversation prefixes (default 1024)",
    )
    serve.add_argument(
        "--stream-interval-ms",
        type=int,
        default=100,
        help="gather streamed tokens into at most one chunk per this many ms (default 100; "
        "0: one chunk per token, for clients that count chunks as tokens)",
    )
    return parser


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from llmos_desktop.core.engine.process.protocol import LoadRequest
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
    try:
        LoadRequest(
            path=args.model, n_ctx=args.ctx, n_gpu_layers=args.gpu_layers, n_threads=args.threads
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        option = _OPTION_NAMES.get(str(error["loc"][0]), str(error["loc"][0]))
        raise CliError(f"{option}: {error['msg']} (got {error.get('input')!r})") from exc
    try:
        check_model_file(args.model, n_ctx=args.ctx)
    except ModelFileError as exc:
        raise CliError(exc.message) from exc

    from llmos_desktop.core.engine.process.child import bind_socket, serve
    from llmos_desktop.core.engine.process.runtime import (
        EngineRuntime,
        EngineRuntimeError,
        LoadParams,
        LogTap,
    )
    from llmos_desktop.core.engine.process.server import LOOPBACK_HOSTS, ServerConfig, create_app
    from llmos_desktop.core.paths import app_paths

    paths = app_paths().ensure()
    log_file = open(paths.logs / "serve.log", "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the server
    runtime = EngineRuntime(cache_bytes=max(0, args.cache_mb) * 1024 * 1024, log=LogTap(log_file))
    api_key = args.api_key or secrets.token_urlsafe(24)

    def progress(value: float, stage: str) -> None:
        sys.stderr.write(
            f"\rloading {os.path.basename(args.model)}: {value * 100:5.1f}% {stage:<20}"
        )
        sys.stderr.flush()

    params = LoadParams(
        path=args.model,
        n_ctx=args.ctx,
        n_gpu_layers=args.gpu_layers,
        n_threads=args.threads,
        chat_template=args.chat_template,
    )
    try:
        status = runtime.executor.submit(runtime.load, params, progress).result()
    except EngineRuntimeError as exc:
        sys.stderr.write("\n")
        raise CliError(exc.message, code=1) from exc
    sys.stderr.write("\n")
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", code=1
        ) from exc
    port = sock.getsockname()[1]
    allowed = LOOPBACK_HOSTS
    config = ServerConfig(
        token=api_key,
        allowed_hosts=allowed,
        any_host=not loopback,  # a LAN server is reached by any name; the key protects it
        cors_origins=tuple(args.cors_origin),
        stream_interval_s=args.stream_interval_ms / 1000,
    )
    app = create_app(runtime, config)
    shown = f"[{args.host}]" if ":" in args.host else args.host

    def ready() -> None:
        print(
            f"Serving {status['model']} ({status['backend']}) at http://{shown}:{port}/v1",
            flush=True,
        )
        print(f"Chat template: {status['chat_template']}", flush=True)
        if args.api_key:
            print("API key: as given (--api-key / LLMOS_API_KEY)", flush=True)
        else:
            print(f"API key: {api_key}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)

    try:
        serve(app, sock, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
    return 0


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
