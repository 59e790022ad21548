"""The ``llmos`` command.

``llmos serve --model PATH`` runs the engine in the foreground as a public
OpenAI-compatible server: the same runtime and server code the app starts, with the
same defaults (loopback, token required).

``llmos chat`` chats in the terminal, like ``ollama run``, through the same Qt-free chat
core (core/chat: ChatSession, ChatStore) and the same ``chats.db`` as the window, with
its own supervised engine child (the Engine service, as the window has). ``llmos chats``
lists, exports and imports the saved chats.

Errors are one ``llmos: error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import ipaddress
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmos_desktop import __version__
from llmos_desktop.core.engine.contract import DEFAULT_PROMPT_CACHE_MB, ModelLoad
from llmos_desktop.core.engine.process.server.config import ServerConfig
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.chat.options import ChatOptions
    from llmos_desktop.core.chat.session import ChatSession, ReplyEnded, ReplyListener
    from llmos_desktop.core.chat.store import ChatStore, Conversation
    from llmos_desktop.core.engine.contract import SamplingOptions
    from llmos_desktop.core.engine.control.service import Engine
    from llmos_desktop.core.engines.service import EnginesService
    from llmos_desktop.core.paths import AppPaths
    from llmos_desktop.core.settings import Settings

T = TypeVar("T")


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
    _add_contract_options(serve, ModelLoad, short={"path": "-m", "n_parallel": "--parallel"})
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
        "--keep-alive",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="unload the model after this many idle seconds, freeing its memory; the next "
        "request loads it again (default 0: never)",
    )
    serve.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="also print llama.cpp's own log (always written to the log file)",
    )
    _add_chat_commands(commands)
    for name in COMMAND_MODULES:
        getattr(_command_module(name), f"add_{name}_commands")(commands)
    return parser


COMMAND_MODULES = ("models", "apps", "engines", "lab")
"""Commands that live in a module of their own, ``llmos_desktop.cli_<name>``, which has
``add_<name>_commands(commands)`` and ``run_<name>(args) -> int``."""


def _command_module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"llmos_desktop.cli_{name}")


CHAT_EPILOG = """\
Which chat: a new one unless --chat says otherwise, as each 'ollama run' starts
afresh; '--chat last' continues the chat with the latest activity (also one from
the window). Every chat is saved in the same chats.db as the window's.

Which model: --model, else the chat's own model, else the last model the window
loaded, else the starter model. --model on an existing chat switches that chat
to the model.

Remote engines: --engine NAME replies with a remote OpenAI-compatible engine
('llmos engines add'); --model is then the id of one of its models (not needed
when it serves only one). A chat continued with --chat stays on its engine unless
--engine or a --model file says otherwise.

Interactive: type a message and press Enter; /continue goes on with a reply that
was cut short, /bye or Ctrl+D quits. Ctrl+C stops a reply and keeps what arrived
(saved, marked incomplete); Ctrl+C twice at the prompt quits.

The reply goes to stdout (control characters removed when it is a terminal);
notes (a reply cut at the token limit, old messages left out of a full context)
and errors go to stderr. Exit status: 0, 1 when a reply failed, 130 when stopped
with Ctrl+C.
"""

CHATS_LIST_EPILOG = """\
--json prints one JSON array, newest activity first; each chat is an object:
  id             integer: the chat's id (for --chat and 'chats export')
  title          string: "" until the first message gives the chat a title
  message_count  integer: stored messages, every version of an edited or
                 regenerated message included
  created_at     string: ISO 8601 time in UTC, e.g. "2026-05-09T14:02:11.093+00:00"
  last_activity  string: ISO 8601 time in UTC of the last message
  model          string or null: the chat's model file
Fields may be added in later versions; these keep their names and meaning.
Chats in the window's trash are not listed.
"""


def _add_chat_commands(commands: Any) -> None:
    chat = commands.add_parser(
        "chat",
        help="chat with a model in the terminal (saved with the window's chats)",
        description="Send MESSAGE to a model and stream the reply to stdout. Without\n"
        "MESSAGE: an interactive prompt (stdin is the message when it is not a terminal).",
        epilog=CHAT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chat.add_argument(
        "message", nargs="*", metavar="MESSAGE", help="the message (words joined by spaces)"
    )
    chat.add_argument(
        "--model",
        "-m",
        metavar="PATH",
        help="a .gguf model file; with --engine, the id of a model that engine serves",
    )
    chat.add_argument(
        "--engine",
        "-e",
        metavar="NAME",
        help="reply with a remote engine ('llmos engines list'), not the local one",
    )
    which = chat.add_mutually_exclusive_group()
    which.add_argument(
        "--chat",
        "-c",
        metavar="ID",
        help="continue chat ID (see 'llmos chats list'); 'last': the latest one",
    )
    which.add_argument("--new", action="store_true", help="start a new chat (the default)")
    chat.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="the longest reply, in tokens, for this run (default: the chat's own setting; "
        "a new chat's comes from the settings, 512 unless changed)",
    )
    chat.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="after each reply, print its time to first token, speed and length on stderr",
    )

    chats = commands.add_parser(
        "chats",
        help="list, export or import the saved chats",
        description="The chats saved by the window and by 'llmos chat'.",
    )
    actions = chats.add_subparsers(dest="chats_command", metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="the chats, newest activity first",
        epilog=CHATS_LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--json", action="store_true", help="print JSON (fields below)")
    listing.add_argument(
        "--search", metavar="TEXT", help="only chats whose title or messages contain TEXT"
    )
    export = actions.add_parser(
        "export",
        help="print a chat as Markdown (the branch shown) or JSON (every version)",
    )
    export.add_argument("id", metavar="ID", help="the chat's id ('last': the latest one)")
    export.add_argument(
        "--format",
        choices=("md", "json"),
        default="md",
        help="md: readable Markdown; json: the whole chat, for 'llmos chats import' (default md)",
    )
    importing = actions.add_parser(
        "import", help="add a chat from a JSON export (prints its new id)"
    )
    importing.add_argument("file", metavar="FILE", help="the JSON file ('-': stdin)")


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
    if not 0 <= args.keep_alive <= 365 * 86400 or args.keep_alive != args.keep_alive:
        raise CliError(
            f"--keep-alive must be between 0 and 31536000 seconds, not {args.keep_alive}"
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
        keep_alive_s=args.keep_alive or None,
    )
    supervisor = EngineSupervisor(
        log_path=log_path,
        cache_bytes=max(0, args.cache_mb) * 1024 * 1024,
        options=options,
        control_token=args.control_key,
    )
    engine = Engine(supervisor)
    follower = _LogFollower(log_path) if args.verbose else None
    _stop_on_sigterm()
    try:
        return asyncio.run(_run_server(engine, spec, args, api_key, port, log_path, state_file))
    except KeyboardInterrupt:
        return 0
    finally:
        if follower is not None:
            follower.stop()
        supervisor.stop()


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop, kill) stops the server as Ctrl+C does: the engine
    child is asked to go and waited for, instead of this process vanishing first."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


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


# --- llmos chat / llmos chats ------------------------------------------------------------


def _open_store(paths: AppPaths) -> ChatStore:
    """The window's chat store; a damaged file was moved aside: say so, once."""
    from llmos_desktop.core.chat.store import CHATS_FILE_NAME, ChatStore, ChatStoreError

    try:
        store = ChatStore(paths.data / CHATS_FILE_NAME)
    except ChatStoreError as exc:
        raise CliError(str(exc), code=1) from exc
    if store.recovered_from is not None:
        print(
            f"llmos: note: the chats file was damaged ({store.damage}); it was kept as "
            f"{store.recovered_from} and a new one was started",
            file=sys.stderr,
        )
    return store


def _chat_logging(paths: AppPaths) -> None:
    """Warnings of the chat core go to a log file, not between the lines of a reply."""
    import logging

    logger = logging.getLogger("llmos_desktop")
    if not logger.handlers:
        handler = logging.FileHandler(paths.logs / "chat-cli.log", encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _find_chat(store: ChatStore, value: str) -> Conversation:
    from llmos_desktop.core.chat.store import ChatNotFound

    if value == "last":
        found = store.most_recent()
        if found is None:
            raise CliError("there are no chats yet", code=1)
        return found
    try:
        number = int(value)
    except ValueError:
        raise CliError(f"a chat id is a number or 'last', not {one_line(value, 40)!r}") from None
    try:
        conversation = store.conversation(number)
    except ChatNotFound:
        raise CliError(
            f"there is no chat {number} ('llmos chats list' shows them)", code=1
        ) from None
    if conversation.deleted_at is not None:
        raise CliError(f"chat {number} is in the trash; restore it in the window first", code=1)
    return conversation


def _pick_model(
    args: argparse.Namespace, options: ChatOptions, settings: Settings, paths: AppPaths
) -> str:
    """--model, else the chat's model, else the window's last model, else the starter."""
    if args.model:
        return str(Path(args.model).expanduser())
    if options.model_path:
        if not Path(options.model_path).is_file():
            raise CliError(
                f"this chat's model {options.model_path} is not there any more; choose one "
                "with --model",
                code=1,
            )
        return options.model_path
    if settings.last_model:
        if Path(settings.last_model).is_file():
            return settings.last_model
        print(
            f"llmos: note: the last model, {settings.last_model}, is not there any more",
            file=sys.stderr,
        )
    from llmos_desktop.core.models.starter import StarterModelError, starter_model_path

    try:
        starter = starter_model_path(paths.cache)
    except StarterModelError as exc:
        raise CliError(exc.message, code=1) from exc
    if starter is None:
        raise CliError("no model: choose a .gguf file with --model PATH", code=2)
    return str(starter)


class _LoopThread:
    """An asyncio loop on a thread of its own, so the main thread keeps the terminal:
    ``input()`` with line editing, and Ctrl+C as KeyboardInterrupt wherever it waits."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="chat-loop", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait. Ctrl+C cancels it, waits for it to wind
        down (a stopped reply is saved first), then raises KeyboardInterrupt."""
        import asyncio

        tasks: list[asyncio.Task[T]] = []

        async def run() -> T:
            task = asyncio.current_task()
            if task is not None:
                tasks.append(task)
            return await coro

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return self._wait(future)
        except KeyboardInterrupt:
            if tasks:
                self.loop.call_soon_threadsafe(tasks[0].cancel)
            else:
                future.cancel()
            with contextlib.suppress(BaseException):
                self._wait(future, interruptible=False)
            raise

    @staticmethod
    def _wait(future: concurrent.futures.Future[T], *, interruptible: bool = True) -> T:
        """The result; not ``interruptible``: Ctrl+C is ignored, for at most 30 s."""
        deadline = time.monotonic() + 30
        while True:
            try:
                # A timeout keeps the wait interruptible on every platform.
                return future.result(timeout=0.1)
            except TimeoutError:
                if not interruptible and time.monotonic() > deadline:
                    raise
            except KeyboardInterrupt:
                if interruptible or time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        with contextlib.suppress(BaseException):
            self.call(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self.loop.is_running():
            self.loop.close()


class _Terminal:
    """Writes a streamed reply to stdout, notes and errors to stderr."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.tty = sys.stdout.isatty()
        self._at_line_start = True
        self._broken = False

    def text(self, piece: str) -> None:
        if self._broken:
            return
        if self.tty:  # model output must not drive the terminal (escape sequences)
            piece = "".join(c for c in piece if c in "\n\t" or c.isprintable())
        try:
            sys.stdout.write(piece)
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            self._broken = True
            return
        if piece:
            self._at_line_start = piece.endswith("\n")

    def end_line(self) -> None:
        if not self._at_line_start and not self._broken:
            with contextlib.suppress(OSError):
                sys.stdout.write("\n")
                sys.stdout.flush()
        self._at_line_start = True

    @staticmethod
    def note(text: str) -> None:
        print(f"llmos: {text}", file=sys.stderr, flush=True)


def _failure_text(error: BaseException | None, log_path: Path) -> str:
    from llmos_desktop.core.engine.control.client import EngineAPIError
    from llmos_desktop.core.engine.control.service import EngineUnavailable

    if isinstance(error, EngineUnavailable):
        return f"{error.failure.message} (details in {log_path})"
    if isinstance(error, EngineAPIError):
        return error.message
    return one_line(str(error) or type(error).__name__)


def _reply(
    runner: _LoopThread,
    terminal: _Terminal,
    start: Callable[[ReplyListener], Coroutine[Any, Any, ReplyEnded]],
) -> ReplyEnded:
    """One reply, streamed to the terminal; Ctrl+C stops it (and it is saved)."""
    from llmos_desktop.core.chat.session import ReplyListener

    ended: list[ReplyEnded] = []
    listener = ReplyListener(
        on_restarting=lambda: terminal.note("the engine had stopped; starting it again…"),
        on_text=terminal.text,
        on_ended=ended.append,
    )
    try:
        return runner.call(start(listener))
    except KeyboardInterrupt:
        if ended:
            return ended[0]
        raise


def _report(
    ended: ReplyEnded, terminal: _Terminal, log_path: Path, *, interactive: bool = False
) -> int:
    """Notes after a reply; the exit status it asks for."""
    from llmos_desktop.core.chat.session import Outcome

    terminal.end_line()
    if ended.dropped_messages:
        size = f" ({ended.result.n_ctx} tokens)" if ended.result.n_ctx else ""
        terminal.note(
            f"note: the {ended.dropped_messages} oldest message(s) no longer fit the "
            f"context{size} and were left out of the prompt"
        )
    if ended.outcome == Outcome.STOPPED:
        if ended.message is not None:
            terminal.note("stopped; the reply so far is saved, marked incomplete")
        else:
            terminal.note("stopped before the reply began; your message was not kept")
        return 130
    if ended.outcome == Outcome.FAILED:
        what = _failure_text(ended.error, log_path)
        if ended.message is not None:
            print(
                f"llmos: error: the reply broke off: {what} (the part above is saved)",
                file=sys.stderr,
            )
        else:
            print(f"llmos: error: {what}", file=sys.stderr)
        return 1
    if ended.stopped_by == "max_tokens":
        how = "/continue goes on" if interactive else "Continue in the window goes on"
        terminal.note(
            f"note: the reply reached the token limit (--max-tokens); it is saved as "
            f"incomplete: {how}"
        )
    elif ended.stopped_by == "context":
        terminal.note("note: the reply stopped because the context is full")
    if terminal.verbose:
        meta = ended.message.meta if ended.message is not None else {}
        parts = []
        if isinstance(meta.get("ttft_s"), int | float):
            parts.append(f"first token after {meta['ttft_s']:.2f} s")
        if isinstance(meta.get("tokens_per_s"), int | float):
            parts.append(f"{meta['tokens_per_s']:.1f} tokens/s")
        if isinstance(meta.get("completion_tokens"), int):
            parts.append(f"{meta['completion_tokens']} tokens")
        if parts:
            terminal.note(", ".join(parts))
    return 0


def _chat(args: argparse.Namespace) -> int:
    """``llmos chat``: one message, or an interactive prompt, in a saved chat."""
    from llmos_desktop.core.chat.options import ChatOptions
    from llmos_desktop.core.chat.session import ChatSession
    from llmos_desktop.core.models.gguf import ModelFileError, check_model_file
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.core.settings import load_settings

    paths = app_paths().ensure()
    _chat_logging(paths)
    settings = load_settings(paths.settings_file)  # read only: the window owns the file
    message = " ".join(args.message).strip() if args.message else None
    interactive = message is None and sys.stdin.isatty()
    if message is None and not interactive:
        message = sys.stdin.read().strip()
        if not message:
            raise CliError("no message: give one, or pipe one into stdin")
    store = _open_store(paths)
    try:
        conversation = _find_chat(store, args.chat) if args.chat else None
        options = (
            store.options(conversation.id)
            if conversation is not None
            else ChatOptions.from_settings(settings)
        )
        override = None
        if args.max_tokens is not None:
            try:
                override = options.sampling.sampling(max_tokens=args.max_tokens)
            except ValidationError as exc:
                error = exc.errors()[0]
                raise CliError(f"--max-tokens: {error['msg']} (got {args.max_tokens})") from exc
        engine_name = args.engine or (None if args.model else options.engine)
        if engine_name is not None:
            return _chat_remote(
                args, paths, store, conversation, options, engine_name, override, message
            )
        options = options.on_local(options.model_path)
        model = _pick_model(args, options, settings, paths)
        spec = options.model_load(model, settings.load)
        try:
            check_model_file(spec.path, n_ctx=spec.n_ctx)
        except ModelFileError as exc:
            raise CliError(exc.message, code=1) from exc
        with _ChatEngineHandle(paths, settings) as handle:
            handle.load(spec)
            session = ChatSession(
                handle.engine,
                store=store,
                conversation_id=conversation.id if conversation is not None else None,
                defaults=options.model_copy(update={"model_path": model}),
            )
            session.sampling_override = override
            if conversation is not None and (
                options.model_path != model or session.options.engine is not None
            ):
                handle.runner.call(session.set_options(session.options.on_local(model)))
            terminal = _Terminal(args.verbose)
            if not interactive:
                assert message is not None
                text = message
                ended = _reply(handle.runner, terminal, functools.partial(session.send, text))
                return _report(ended, terminal, handle.log_path)
            return _interactive(handle, session, terminal, Path(model).name)
    finally:
        store.close()


def _chat_remote(
    args: argparse.Namespace,
    paths: AppPaths,
    store: ChatStore,
    conversation: Conversation | None,
    options: ChatOptions,
    engine_name: str,
    override: SamplingOptions | None,
    message: str | None,
) -> int:
    """``llmos chat`` on a remote engine: the same session and store, no engine child."""
    from llmos_desktop.cli_engines import EngineChoiceError, open_remote_engine, pick_remote_model
    from llmos_desktop.core.chat.session import ChatSession

    with _RemoteChatHandle(paths, open_remote_engine(paths)) as handle:
        same = options.engine is not None and options.engine.lower() == engine_name.lower()
        wanted = args.model or (options.model_path if same else None)
        try:
            engine = pick_remote_model(handle.service, engine_name, wanted, handle.runner.call)
        except EngineChoiceError as exc:
            raise CliError(str(exc), code=exc.code) from None
        remote = options.on_remote(engine.name, engine.model)
        session = ChatSession(
            engine,
            store=store,
            conversation_id=conversation.id if conversation is not None else None,
            defaults=remote,
        )
        session.sampling_override = override
        if conversation is not None and (options.engine, options.model_path) != (
            engine.name,
            engine.model,
        ):
            handle.runner.call(
                session.set_options(session.options.on_remote(engine.name, engine.model))
            )
        terminal = _Terminal(args.verbose)
        if message is not None:
            ended = _reply(handle.runner, terminal, functools.partial(session.send, message))
            return _report(ended, terminal, handle.log_path)
        return _interactive(handle, session, terminal, f"{engine.name} · {engine.model}")


class _RemoteChatHandle:
    """What ``llmos chat --engine`` runs on: the engines service and a loop thread."""

    def __init__(self, paths: AppPaths, service: EnginesService) -> None:
        self.log_path = paths.logs / "chat-cli.log"
        self.service = service
        self.runner = _LoopThread()

    def __enter__(self) -> _RemoteChatHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(BaseException):
            self.runner.call(self.service.aclose())
        self.runner.close()


class _ChatEngineHandle:
    """The engine of one ``llmos chat``: a supervised child (as the window has), its
    Engine service, and the loop thread that runs it; closed with the command."""

    def __init__(self, paths: AppPaths, settings: Settings) -> None:
        from llmos_desktop.core.engine.control.service import Engine
        from llmos_desktop.core.engine.control.supervisor import EngineSupervisor

        self.log_path = paths.logs / "chat.log"
        self.supervisor = EngineSupervisor(
            log_path=self.log_path,
            cache_bytes=settings.prompt_cache_mb * 1024 * 1024,
            # The window's folder and budget: a chat continued here or there reuses the
            # state the other saved.
            state_dir=paths.kv_states,
            state_budget_mb=settings.kv_state_disk_mb,
        )
        self.engine = Engine(self.supervisor)
        self.runner = _LoopThread()

    def __enter__(self) -> _ChatEngineHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(BaseException):
            self.runner.call(self.engine.close())
        self.runner.close()
        self.supervisor.stop()

    def load(self, spec: ModelLoad) -> None:
        from llmos_desktop.core.engine.control.client import EngineAPIError
        from llmos_desktop.core.engine.control.service import EngineUnavailable

        name = os.path.basename(spec.path)
        show = sys.stderr.isatty()

        async def load() -> None:
            async for event in self.engine.load(spec):
                if show and event.get("type") == "progress":
                    value = float(event.get("progress") or 0)
                    sys.stderr.write(f"\rloading {name}: {value * 100:5.1f}%")
                    sys.stderr.flush()

        try:
            self.runner.call(load())
        except (EngineAPIError, EngineUnavailable) as exc:
            if show:
                sys.stderr.write("\r\033[K")
            raise CliError(_failure_text(exc, self.log_path), code=1) from exc
        if show:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


CHAT_HELP = """\
/continue  go on with the last reply, when it was cut short
/bye       quit (Ctrl+D too)
Ctrl+C stops a reply; twice at the prompt, quits."""


def _interactive(
    handle: _ChatEngineHandle | _RemoteChatHandle,
    session: ChatSession,
    terminal: _Terminal,
    model: str,
) -> int:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())

    where = f"chat {session.conversation_id}" if session.conversation_id else "a new chat"
    earlier = len(session.thread)
    more = f", {earlier} earlier message(s)" if earlier else ""
    print(f"{model}: {where}{more}. /help for commands, /bye to quit.", file=sys.stderr)
    interrupted = False
    while True:
        try:
            line = input(">>> ")
            interrupted = False
            if _interactive_line(handle, session, terminal, line.strip()):
                return 0
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:  # at the prompt (a reply handles its own)
            if interrupted:
                print(file=sys.stderr)
                return 0
            interrupted = True
            print("\n(Ctrl+C again, /bye or Ctrl+D to quit)", file=sys.stderr)


def _interactive_line(
    handle: _ChatEngineHandle | _RemoteChatHandle,
    session: ChatSession,
    terminal: _Terminal,
    text: str,
) -> bool:
    """One line typed at the prompt; True: quit."""
    if not text:
        return False
    if text in ("/bye", "/exit", "/quit"):
        return True
    if text in ("/help", "/?"):
        print(CHAT_HELP, file=sys.stderr)
        return False
    if text == "/continue":
        last = session.thread[-1] if session.thread else None
        if last is None or last.role != "assistant" or last.status == "complete":
            terminal.note("there is no unfinished reply to continue")
            return False
        start = functools.partial(session.continue_reply, last.id)
    elif text.startswith("/") and " " not in text:
        terminal.note(f"unknown command {one_line(text, 40)}; /help lists them")
        return False
    else:
        start = functools.partial(session.send, text)
    _report(_reply(handle.runner, terminal, start), terminal, handle.log_path, interactive=True)
    return False


def _chats(args: argparse.Namespace) -> int:
    """``llmos chats list|export|import``."""
    import json

    from llmos_desktop.core.chat.store import ChatStoreError, iso_time
    from llmos_desktop.core.paths import app_paths

    paths = app_paths().ensure()
    _chat_logging(paths)
    store = _open_store(paths)
    try:
        if args.chats_command == "list":
            found = store.conversations(args.search or None)
            models = {c.id: store.options(c.id).model_path for c in found}
            if args.json:
                rows = [
                    {
                        "id": c.id,
                        "title": c.title,
                        "message_count": c.message_count,
                        "created_at": iso_time(c.created_at),
                        "last_activity": iso_time(c.updated_at),
                        "model": models[c.id],
                    }
                    for c in found
                ]
                print(json.dumps(rows, ensure_ascii=False, indent=2))
                return 0
            if not found:
                print("no chats" + (" match" if args.search else " yet"), file=sys.stderr)
                return 0
            print(f"{'ID':>5}  {'LAST ACTIVITY':<16}  {'MESSAGES':>8}  TITLE")
            for c in found:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.updated_at))
                title = one_line(c.title, 60) or "(untitled)"
                print(f"{c.id:>5}  {when:<16}  {c.message_count:>8}  {title}")
            return 0
        if args.chats_command == "export":
            conversation = _find_chat_any(store, args.id)
            if args.format == "json":
                sys.stdout.write(store.export_json(conversation.id))
            else:
                sys.stdout.write(store.export_markdown(conversation.id))
            sys.stdout.flush()
            return 0
        if args.chats_command == "import":
            try:
                data = (
                    sys.stdin.buffer.read()
                    if args.file == "-"
                    else Path(args.file).expanduser().read_bytes()
                )
            except OSError as exc:
                raise CliError(f"{args.file}: {exc.strerror or exc}", code=1) from exc
            try:
                imported = store.import_json(data)
            except ChatStoreError as exc:
                raise CliError(f"{args.file} was not imported: {exc}", code=1) from exc
            print(imported.id)
            return 0
    except ChatStoreError as exc:
        raise CliError(str(exc), code=1) from exc
    finally:
        store.close()
    raise CliError(f"unknown action {args.chats_command}")


def _find_chat_any(store: ChatStore, value: str) -> Conversation:
    """A chat by id or 'last'; one in the trash too (it can still be exported)."""
    from llmos_desktop.core.chat.store import ChatNotFound

    if value == "last":
        return _find_chat(store, value)
    try:
        return store.conversation(int(value))
    except ValueError:
        raise CliError(f"a chat id is a number or 'last', not {one_line(value, 40)!r}") from None
    except ChatNotFound:
        raise CliError(
            f"there is no chat {value} ('llmos chats list' shows them)", code=1
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "chat":
            return _chat(args)
        if args.command == "chats":
            if args.chats_command is None:
                parser.parse_args(["chats", "--help"])
            return _chats(args)
        if args.command in COMMAND_MODULES:
            run: Callable[[argparse.Namespace], int] = getattr(
                _command_module(args.command), f"run_{args.command}"
            )
            return run(args)
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
