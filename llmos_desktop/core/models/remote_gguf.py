"""The GGUF header of a file on the Hub, read with a few bounded Range requests.

The fit advice wants a model's layer count, KV-cache size per token and trained context
before the user downloads gigabytes. They are in the file's header: its metadata and
tensor list, a few MB at the start (6.5 MB of the 253 MB Gemma 3 270M, most of it the
vocabulary). So this module asks for the first 1 MiB, tries to parse it with the same
bounded parser that reads local files (``read_gguf_info_from_prefix``), and when the
parser says it needs more, fetches the next bytes, doubling each time, never past
``max_bytes``. The answer is therefore the same ``GGUFInfo`` ``read_gguf_info`` gives for
the downloaded file, with the same limits and messages for a hostile one.

The requests go through ``HubClient.httpx_client()`` (the proxy setting, TLS
verification, our user agent) with ``HubClient.headers_for(url)`` (the token only for
the endpoint's own origin; httpx drops it on a redirect to another origin, such as the
Hub's CDN). A server that ignores ``Range`` and answers 200 with the whole file is read
only as far as the parser needs and then the connection is closed. Every failure is a
``ModelsError``; the caller falls back to advice from the file size alone.

Blocking: run it off the GUI thread.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from llmos_desktop.core.models.gguf.reader import (
    GGUFInfo,
    ModelFileError,
    NeedMoreBytes,
    _format_bytes,
    read_gguf_info_from_prefix,
)
from llmos_desktop.core.models.types import ModelsError, RemoteFile
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    import httpx

    from llmos_desktop.core.models.hub import HubClient

__all__ = ["DEFAULT_MAX_BYTES", "FIRST_BYTES", "read_remote_gguf_info"]

_log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
"""Far above the header of any released model (Qwen's and Llama 3's, with 150k tokens
and their merges, are under 10 MB), far below a download."""
FIRST_BYTES: Final = 1024 * 1024
_CHUNK: Final = 64 * 1024
_CONTENT_RANGE: Final = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def read_remote_gguf_info(
    client: HubClient,
    file: RemoteFile,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    first_bytes: int = FIRST_BYTES,
    time_limit: float = 60.0,
) -> GGUFInfo:
    """The header of ``file`` on the Hub, reading at most ``max_bytes`` of it.

    ``time_limit`` bounds the whole read (the client's timeout bounds each wait). Raises
    ModelsError: "invalid" for a file that is not a usable GGUF (the parser's reason) or
    whose header is larger than ``max_bytes``; "auth", "gated", "not_found",
    "rate_limited", "server", "network" as the HTTP answer says.
    """
    if max_bytes <= 0 or first_bytes <= 0:
        raise ValueError("max_bytes and first_bytes must be positive")
    url = client.file_url(file)
    name = f"{file.repo_id}/{file.path}"
    with client.httpx_client() as http:
        reader = _RangeReader(http, url, client.headers_for(url), name, file.size, time_limit)
        try:
            return _read(reader, file, name, max_bytes, first_bytes)
        finally:
            reader.close()
            _log.debug("read %s bytes of the header of %s", f"{reader.received:,}", name)


def _read(
    reader: _RangeReader, file: RemoteFile, name: str, max_bytes: int, first_bytes: int
) -> GGUFInfo:
    want = min(first_bytes, max_bytes)
    while True:
        prefix = reader.prefix(want)
        total = reader.total
        assert total is not None  # known after the first answer
        try:
            return read_gguf_info_from_prefix(prefix, total, path=file.path)
        except NeedMoreBytes as exc:
            limit = min(max_bytes, total)
            if len(prefix) >= limit:
                raise ModelsError(
                    "invalid",
                    f"the header of {name} is larger than {_format_bytes(max_bytes)}, so "
                    "how it fits this computer cannot be read before it is downloaded",
                ) from None
            want = min(limit, max(exc.needed, 2 * len(prefix)))
        except ModelFileError as exc:
            raise ModelsError("invalid", f"{name} on the Hub: {exc.message}") from exc


class _RangeReader:
    """The first bytes of one URL, fetched with Range requests as they are asked for.

    A server that answers a Range request with 200 (the whole file) is read from that one
    answer as far as needed, never further; ``close`` drops its connection.
    """

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        headers: dict[str, str],
        name: str,
        size: int | None,
        time_limit: float,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = headers
        self._name = name
        self._host = urlsplit(url).netloc
        self._expected_size = size
        self._deadline = time.monotonic() + time_limit
        self._buf = bytearray()
        self._whole: httpx.Response | None = None  # a 200 answer, read as far as needed
        self._whole_chunks: Iterator[bytes] | None = None
        self._skip = 0  # bytes of the 200 answer that the buffer already has
        self.total: int | None = size
        self.received = 0  # body bytes received, over all requests

    def prefix(self, n: int) -> bytes:
        """The first ``n`` bytes, or the whole file when it is shorter."""
        while len(self._buf) < (n if self.total is None else min(n, self.total)):
            if self._whole_chunks is not None:
                self._read_whole(n)
            else:
                self._fetch(len(self._buf), n)
        return bytes(self._buf[: n if self.total is None else min(n, self.total)])

    def close(self) -> None:
        if self._whole is not None:
            self._whole.close()
        self._whole = self._whole_chunks = None

    # --- requests -------------------------------------------------------------------------

    def _fetch(self, start: int, end: int) -> None:
        """Bytes [start, end) into the buffer, with one Range request."""
        import httpx

        headers = {**self._headers, "Range": f"bytes={start}-{end - 1}"}
        try:
            request = self._http.build_request("GET", self._url, headers=headers)
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise self._network("did not answer in time") from exc
        except httpx.TransportError as exc:
            raise self._network(f"could not be reached ({one_line(str(exc), 200)})") from exc
        keep = False
        try:
            self._check_status(response)
            if response.status_code == 200:
                self._take_whole(response)
                keep = True
                self._read_whole(end)
                return
            # A server may send less than asked for (some CDNs cap a range); the caller
            # asks again for the rest.
            last = self._check_range(response, start)
            assert self.total is not None
            end = min(end, self.total, last + 1)
            self._read_into(response.iter_bytes(_CHUNK), end)
            if len(self._buf) < end:
                raise self._network("closed the connection before sending the bytes asked for")
        except httpx.TimeoutException as exc:
            raise self._network("stopped sending") from exc
        except httpx.TransportError as exc:
            raise self._network(f"dropped the connection ({one_line(str(exc), 200)})") from exc
        finally:
            if not keep:
                response.close()

    def _take_whole(self, response: httpx.Response) -> None:
        """A 200 answer to a Range request: the file from its start, read bit by bit."""
        length = response.headers.get("Content-Length", "")
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        if length.isdigit() and not encoded:
            self._check_total(int(length))
        elif self.total is None:
            raise self._server("did not say how large the file is")
        self._whole = response
        self._whole_chunks = response.iter_bytes(_CHUNK)
        self._skip = len(self._buf)  # what earlier answers gave (a server that changed its mind)

    def _read_whole(self, end: int) -> None:
        import httpx

        assert self._whole_chunks is not None and self.total is not None
        end = min(end, self.total)
        try:
            self._read_into(self._whole_chunks, end)
        except httpx.TimeoutException as exc:
            raise self._network("stopped sending") from exc
        except httpx.TransportError as exc:
            raise self._network(f"dropped the connection ({one_line(str(exc), 200)})") from exc
        if len(self._buf) < end:
            raise self._network("closed the connection before the end of the header")

    def _read_into(self, chunks: Iterator[bytes], end: int) -> None:
        """Append whole chunks until the buffer holds at least ``end`` bytes (a chunk that
        goes past ``end`` is kept: a 200 answer goes on from there next time)."""
        while len(self._buf) < end:
            if time.monotonic() > self._deadline:
                raise self._network("is too slow: the header did not arrive in time")
            chunk = next(chunks, None)
            if chunk is None:
                return
            self.received += len(chunk)
            if self._skip and chunks is self._whole_chunks:
                dropped = min(self._skip, len(chunk))
                chunk = chunk[dropped:]
                self._skip -= dropped
            self._buf += chunk

    # --- checks ---------------------------------------------------------------------------

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (200, 206):
            return
        where = f"{self._host} answered HTTP {status} for {self._name}"
        if status == 401:
            gated = response.headers.get("X-Error-Code") == "GatedRepo"
            why = "the repository is gated" if gated else "a Hugging Face token is needed"
            raise ModelsError("auth", f"{where}: {why}; enter a token that has access")
        if status == 403:
            raise ModelsError(
                "gated", f"{where}: the token has no access yet; ask for it on the Hub"
            )
        if status == 404:
            raise ModelsError("not_found", f"{where}: no such file")
        if status == 429:
            raise ModelsError("rate_limited", f"{where}: too many requests; wait a minute")
        if status == 416:
            raise ModelsError("server", f"{where}: it refused the byte range")
        raise ModelsError("server", where)

    def _check_range(self, response: httpx.Response, start: int) -> int:
        """The last byte of a 206 answer that starts at ``start``."""
        found = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
        if found is None or int(found[1]) != start or int(found[2]) < start:
            raise self._server("sent a byte range other than the one asked for")
        if found[3] != "*":
            self._check_total(int(found[3]))
        elif self.total is None:
            raise self._server("did not say how large the file is")
        return int(found[2])

    def _check_total(self, total: int) -> None:
        if self._expected_size is not None and total != self._expected_size:
            raise self._server(
                f"serves {total:,} bytes, but the Hub's metadata says "
                f"{self._expected_size:,}; the file may have changed"
            )
        self.total = total

    def _server(self, what: str) -> ModelsError:
        return ModelsError("server", f"{self._host} {what} ({self._name})")

    def _network(self, what: str) -> ModelsError:
        return ModelsError("network", f"{self._host} {what} ({self._name})")
