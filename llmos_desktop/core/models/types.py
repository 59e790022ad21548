"""The data the Models services hand out, defined once for the pane, the CLI and the tests.

The services (core/models/hub.py: the Hub; fit.py: will it run here; downloads.py: the
transfers; library.py: the files on disk; service.py: all four behind one front) return
these frozen dataclasses and raise ``ModelsError``; the UI (ui/models/) and the CLI
(``llmos models ...``) only read them. Nothing here imports Qt, httpx or huggingface_hub,
so the types cost nothing at start-up.

Sizes are bytes, times are UTC ``datetime``s, quantization names are llama.cpp's
(``Q4_K_M``, ``IQ2_XS``, ``F16``, ``BF16``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

__all__ = [
    "DownloadProgress",
    "DownloadStatus",
    "FitAdvice",
    "FitKind",
    "GatedKind",
    "LocalModel",
    "MachineMemory",
    "ModelDefaults",
    "ModelOrigin",
    "ModelsError",
    "ModelsErrorKind",
    "Recommendation",
    "RemoteFile",
    "RemoteModel",
    "RepoDetails",
    "RepoSummary",
    "SearchPage",
    "SearchSort",
]

SearchSort = Literal["downloads", "likes", "trending", "modified"]
GatedKind = Literal[False, "auto", "manual"]  # the Hub's "gated" field
FitKind = Literal["full_gpu", "partial_gpu", "cpu_only", "too_large"]
DownloadStatus = Literal[
    "queued", "downloading", "paused", "retrying", "verifying", "done", "failed", "cancelled"
]
ModelsErrorKind = Literal[
    "auth",  # 401: a token is needed (or the one given is wrong)
    "gated",  # 403: the repository is gated and the token has no access yet
    "not_found",  # 404: no such repository, revision or file
    "rate_limited",  # 429
    "network",  # unreachable, TLS, timeouts, dropped connections (after the retries)
    "server",  # 5xx, or an answer that is not what the Hub sends
    "unsafe_name",  # a file name that would land outside the models folder
    "disk_full",  # no space for the file (checked before and while writing)
    "checksum",  # the bytes do not match the Hub's SHA-256
    "invalid",  # bad input from the user: a repository id, a path, a model name
    "io",  # the local disk failed otherwise (permissions, a removed folder)
]


class ModelsError(Exception):
    """A failure of a Models service, with a one-line message fit for a user.

    ``kind`` lets the UI choose what to offer (a token field for ``auth``/``gated``, a
    retry for ``network``); ``str(error)`` is the message.
    """

    def __init__(self, kind: ModelsErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ModelsErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[ModelsError], tuple[str, str]]:
        return (type(self), (self.kind, self.message))


# --- the Hub ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoSummary:
    """One repository in search results."""

    repo_id: str  # "owner/name"
    downloads: int = 0
    likes: int = 0
    trending_score: float | None = None
    last_modified: datetime | None = None
    gated: GatedKind = False
    tags: tuple[str, ...] = ()
    pipeline_tag: str | None = None


@dataclass(frozen=True)
class SearchPage:
    """One page of search results; pass ``next_cursor`` back for more (None: no more)."""

    repos: tuple[RepoSummary, ...]
    next_cursor: str | None = None


@dataclass(frozen=True)
class RemoteFile:
    """One ``.gguf`` file of a repository (one shard of a split model)."""

    repo_id: str
    path: str  # the path inside the repository, checked safe (see hub.safe_repo_path)
    size: int | None
    sha256: str | None  # the LFS SHA-256 the Hub publishes (lowercase hex); None: not LFS
    revision: str | None = None  # the commit the metadata came from


@dataclass(frozen=True)
class RemoteModel:
    """One model of a repository: a single file, or the shards of a split model."""

    repo_id: str
    name: str  # the file name without ".gguf" and without the "-00001-of-00003" part
    quant: str | None  # "Q4_K_M"; None when the name does not say
    files: tuple[RemoteFile, ...]  # shards in order
    is_mmproj: bool = False  # a vision projector, not a model to chat with

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)

    @property
    def is_split(self) -> bool:
        return len(self.files) > 1


@dataclass(frozen=True)
class RepoDetails:
    """A repository page: its card and every GGUF model it has, grouped by quantization."""

    repo_id: str
    revision: str | None  # the commit sha
    models: tuple[RemoteModel, ...]
    card_markdown: str | None = None  # untrusted: render with the safe Markdown renderer
    gated: GatedKind = False
    license: str | None = None
    last_modified: datetime | None = None
    downloads: int = 0
    likes: int = 0
    # Set when the files cannot be fetched with the current token (401/403): the UI shows
    # it with a place to enter a token.
    access_error: ModelsError | None = None


# --- fit advice ------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineMemory:
    """What this computer has for a model."""

    ram_total: int
    ram_available: int
    backend: Literal["cpu", "cuda", "metal", "vulkan"] = "cpu"
    vram_total: int | None = None  # None: no GPU memory of its own (or unknown)
    vram_free: int | None = None
    unified: bool = False  # Apple Silicon: the GPU uses the RAM


@dataclass(frozen=True)
class FitAdvice:
    """Whether a model runs on this machine, and how."""

    kind: FitKind
    needed_bytes: int  # weights + KV cache at ``context`` + runtime overhead
    context: int  # the context size (tokens) the advice is for: the largest that fits
    gpu_layers: int = 0  # layers offloaded (-1: all)
    detail: str = ""  # one English line for logs and the CLI; the UI words it from kind
    estimated: bool = False  # True: from the file size alone, without the GGUF header


@dataclass(frozen=True)
class Recommendation:
    """A curated model for the first-run panel (resources/models/recommended.json)."""

    repo_id: str
    file: str
    title: str
    summary: str
    min_ram_gb: float
    licence: str | None = None


# --- downloads -------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadProgress:
    """A snapshot of one download, as its listeners see it."""

    id: str
    repo_id: str
    path: str  # the file in the repository
    target: Path  # where the verified file will be
    status: DownloadStatus
    received: int
    total: int | None
    speed: float = 0.0  # bytes per second, smoothed
    eta: float | None = None  # seconds
    attempt: int = 0  # retries so far of the current transfer
    error: ModelsError | None = None  # set when failed (and while retrying: the last one)


# --- the local library -----------------------------------------------------------------


@dataclass(frozen=True)
class ModelDefaults:
    """How one model is loaded unless the user says otherwise (None: the app's default)."""

    n_ctx: int | None = None
    n_gpu_layers: int | Literal["auto"] | None = "auto"
    n_threads: int | None = None
    chat_template: str | None = None


@dataclass(frozen=True)
class ModelOrigin:
    """Where a model made on this machine came from (the Lab's quantizations)."""

    source: str  # the file it was made from (absolute path)
    qtype: str  # what it was made into, e.g. "Q4_K_M"
    created_at: str  # ISO 8601
    source_sha256: str | None = None


@dataclass(frozen=True)
class LocalModel:
    """One model in the library: a GGUF file, or the shards of a split model."""

    id: str  # stable key: the first shard's path, as a string
    name: str
    path: Path  # the first shard (what llama.cpp is given)
    files: tuple[Path, ...]
    size: int
    in_place: bool = False  # imported in place: the file lives outside the models folder
    architecture: str | None = None
    parameters: int | None = None  # from general.size_label or the tensor shapes
    quant: str | None = None
    context_length: int | None = None
    has_chat_template: bool = False
    is_mmproj: bool = False
    source_repo: str | None = None  # where it was downloaded from
    last_used: datetime | None = None
    error: str | None = None  # set when the file cannot be read: the row says why
    defaults: ModelDefaults = field(default_factory=ModelDefaults)
    origin: ModelOrigin | None = None  # made here, by the Lab's quantization
