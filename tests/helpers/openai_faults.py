"""An OpenAI-compatible server that misbehaves on request, for the remote-engine tests.

No real server can be made to drop a stream half way, stall, or redirect to another
host when a test wants it, so this one does, on a thread in the test process
(``http.server``, HTTP/1.1, chunked SSE as real servers send it). What each request
gets is chosen by the model it names (``/v1/models`` lists them all), so one server
covers every fault:

=================  =========================================================================
model              what the reply does
=================  =========================================================================
``one``            one token per chunk, a usage chunk, ``finish_reason`` "stop", ``[DONE]``
``many``           several tokens per chunk
``no-usage``       no usage chunk
``reasoning``      ``reasoning_content`` deltas first, then the content
``drop``           a few tokens, then the connection is cut inside a chunk
``cut``            a few tokens, then a clean close: no finish reason, no ``[DONE]``
``stall``          a few tokens, then silence (``stall_s``)
``stall-first``    headers, then silence
``500``            HTTP 500 with an OpenAI error body
``error-event``    a few tokens, then an ``{"error": ...}`` event
``vllm-error``     vLLM's older error event (``{"object": "error", ...}``)
``html``           HTTP 200 with an HTML page (a captive portal, a proxy's login)
``redirect``       307 to ``redirect_to`` (another host) with the same path
``redirect-same``  307 to this server's ``/v1/alt/chat/completions`` (served as ``one``)
anything else      404 ``model_not_found``, as OpenAI answers
=================  =========================================================================

With ``api_key`` set, every ``/v1`` request without ``Authorization: Bearer <key>``
gets a 401 (OpenAI's body). ``requests`` records what arrived (method, path, headers,
JSON body), so a test can check where a key went.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

REPLY: Final = "Hello from the fault server. All is well here."
REASONING: Final = "The user greets me; I should greet back."
MODELS: Final = (
    "one",
    "many",
    "no-usage",
    "reasoning",
    "drop",
    "cut",
    "stall",
    "stall-first",
    "500",
    "error-event",
    "vllm-error",
    "html",
    "redirect",
    "redirect-same",
)


def tokens(text: str = REPLY) -> list[str]:
    """``text`` cut as a tokenizer might: each word with the space before it."""
    words = text.split(" ")
    return [words[0]] + [f" {word}" for word in words[1:]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FaultServer:
    """Serves on ``host`` (a free port) while the ``with`` block runs."""

    host: str = "127.0.0.1"
    api_key: str | None = "sk-fault-test"
    redirect_to: str | None = None  # an origin, such as http://127.0.0.2:PORT
    stall_s: float = 30.0
    tls: ssl.SSLContext | None = None  # serve https (see ``self_signed_context``)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(_Handler):
            owner = server

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = int(self.server.server_address[1])
        self.origin = f"{self.scheme}://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def base_url(self, host: str | None = None) -> str:
        """The OpenAI base URL, optionally under another name for this host."""
        return f"{self.scheme}://{host or self.host}:{self.port}/v1"

    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake when the server stops (a stalled handler must not outlive it)."""
        self._stop.wait(seconds)

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing -------------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        self._json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": code}}
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self._chunk(f"data: {text}\n\n".encode())

    def _start_stream(self, *, chunked: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()

    def _cut(self) -> None:
        """Drop the connection with a chunk half sent (what a crashed server does)."""
        self.wfile.write(b'40\r\ndata: {"choi')
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # --- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        body = self._body() if method == "POST" else None
        self.owner.record(
            Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        if not self.path.startswith("/v1/"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        key = self.owner.api_key
        if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
            self._error(
                401,
                "Incorrect API key provided. You can find your API key in your account.",
                "invalid_request_error",
                "invalid_api_key",
            )
            return
        if method == "GET" and self.path == "/v1/models":
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fault-server"}
                for name in MODELS
            ]
            self._json(200, {"object": "list", "data": data})
            return
        if method == "POST" and self.path == "/v1/alt/chat/completions":
            self._stream(tokens(), usage=True)
            return
        if method == "POST" and self.path == "/v1/chat/completions":
            self._chat(body if isinstance(body, dict) else {})
            return
        self._error(404, f"no route {method} {self.path}", "not_found")

    def _chat(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in MODELS:
            self._error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
            return
        words = tokens()
        if model == "one":
            self._stream(words, usage=True)
        elif model == "many":
            self._stream(["".join(words[i : i + 3]) for i in range(0, len(words), 3)], usage=True)
        elif model == "no-usage":
            self._stream(words, usage=False)
        elif model == "reasoning":
            self._stream(words, usage=True, reasoning=tokens(REASONING))
        elif model == "drop":
            self._start_stream()
            for word in words[:3]:
                self._event(_delta(word))
            self._cut()
        elif model == "cut":
            self._start_stream(chunked=False)
            for word in words[:3]:
                self.wfile.write(f"data: {json.dumps(_delta(word))}\n\n".encode())
            self.wfile.flush()
        elif model == "stall":
            self._start_stream()
            for word in words[:2]:
                self._event(_delta(word))
            self.owner.sleep(self.owner.stall_s)
            self.close_connection = True
        elif model == "stall-first":
            self._start_stream()
            self.owner.sleep(self.owner.stall_s)
            self.close_connection = True
        elif model == "500":
            self._error(500, "CUDA out of memory on worker 3", "server_error", "internal_error")
        elif model == "error-event":
            self._start_stream()
            for word in words[:2]:
                self._event(_delta(word))
            self._event({"error": {"message": "the worker died", "type": "server_error"}})
            self._chunk(b"")
        elif model == "vllm-error":
            self._start_stream()
            self._event(
                {
                    "object": "error",
                    "message": "prompt too long for max_model_len",
                    "type": "BadRequestError",
                    "code": 400,
                }
            )
            self._event("[DONE]")
            self._chunk(b"")
        elif model == "html":
            page = b"<html><body>Please log in to the proxy</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        elif model == "redirect":
            target = (self.owner.redirect_to or "http://127.0.0.2:9") + self.path
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif model == "redirect-same":
            self.send_response(307)
            self.send_header("Location", "/v1/alt/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _stream(
        self, pieces: list[str], *, usage: bool, reasoning: list[str] | None = None
    ) -> None:
        self._start_stream()
        created = int(time.time())
        self._event(_delta("", role="assistant", created=created))
        for thought in reasoning or []:
            self._event(
                {
                    **_delta("", created=created),
                    "choices": [
                        {"index": 0, "delta": {"reasoning_content": thought}, "finish_reason": None}
                    ],
                }
            )
        for piece in pieces:
            self._event(_delta(piece, created=created))
        self._event(
            {
                **_delta("", created=created),
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
        )
        if usage:
            self._event(
                {
                    **_delta("", created=created),
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 12,
                        "completion_tokens": len(tokens()),
                        "total_tokens": 12 + len(tokens()),
                    },
                }
            )
        self._event("[DONE]")
        self._chunk(b"")


def _delta(text: str, *, role: str | None = None, created: int = 0) -> dict[str, Any]:
    delta: dict[str, Any] = {"content": text}
    if role is not None:
        delta["role"] = role
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion.chunk",
        "created": created,
        "model": "fault",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def self_signed_context(folder: Path, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server context with a new self-signed certificate for ``host`` (an IP address);
    the certificate is ``folder/cert.pem``, the CA file a client can be given."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context
