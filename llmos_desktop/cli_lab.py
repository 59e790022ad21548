"""``llmos lab``: quantize, measure and score models from the command line.

The same lab as the window's Lab page, through the same front (``LabService``,
core/lab/service.py): quantization, perplexity and speed runs happen in a lab worker
process (``python -m llmos_desktop --lab-worker``), never in this one; task scores run a
store app on an engine child of this command, as ``llmos apps run`` does. Every result
is stored with the window's (``data/lab``), so a comparison on the Lab page shows it.

Each command prints a short summary, or with ``--json`` one JSON object whose fields the
command's ``--help`` lists. Progress goes to stderr when it is a terminal. Ctrl+C stops a
run: the worker is ended and a half-written quantization removed (exit status 130).
Errors are one ``llmos: error:`` line: exit status 2 for a mistake in what was asked
(a missing file, an unknown type, a requantization not confirmed), 1 for a run that
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from llmos_desktop.cli_output import note as _note
from llmos_desktop.cli_output import print_json as _print_json
from llmos_desktop.cli_output import run_group
from llmos_desktop.cli_output import say as _say
from llmos_desktop.core.text import one_line

if TYPE_CHECKING:
    from llmos_desktop.core.lab.service import LabService
    from llmos_desktop.core.lab.types import LabProgress

__all__ = ["add_lab_commands", "run_lab"]

T = TypeVar("T")

QUANTIZE_EPILOG = """\
TYPE is one of the types llama.cpp quantizes to without an importance matrix:
Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, IQ4_NL, IQ4_XS, IQ3_M, IQ3_S. SRC should be
an F32, F16 or BF16 GGUF; an already quantized SRC loses quality twice and is
quantized only with --allow-requantize. Without --out the result goes to the
models folder (quantized/NAME-TYPE.gguf). It is loaded once and asked for a few
tokens before it is listed in the model library, with its source and type.

--json prints one object:
  path            string: the new model file
  qtype           string: its type (e.g. "Q4_K_M")
  size_bytes      integer: its size
  source          string: the file it was made from
  source_sha256   string: the source's SHA-256
  source_type     string: the source's type ("F16", "F32", "BF16", "Q8_0"...)
  seconds         number: how long the run took
  verified_reply  string: what the result generated when it was tried
  created_at      string: ISO 8601 time in UTC
Fields may be added in later versions; these keep their names and meaning.
"""

PERPLEXITY_EPILOG = """\
The method is llama.cpp's perplexity tool's: the text is cut into chunks of
--ctx tokens and the second half of each chunk is scored. Without --text, a
bundled public-domain sample is used (--sample en or zh). The text must hold at
least two chunks.

--json prints one object:
  ppl              number: the perplexity (lower is better)
  ppl_stderr       number: its standard error (llama.cpp's "+/-")
  n_chunks         integer: chunks scored
  n_tokens_scored  integer: tokens scored (half of each chunk)
  n_ctx            integer: the chunk size, in tokens
  n_tokens_text    integer: tokens in the whole text
  chunk_ppls       array of numbers: the estimate after each chunk
  seconds          number: how long it took
  model            string: the model file
  text             string: the text file measured on
Fields may be added in later versions; these keep their names and meaning.
"""

BENCH_EPILOG = """\
Like llama-bench: prompt processing of --pp tokens and generation of --tg tokens,
each run once to warm up and then --reps times; tokens per second as the median
and the spread (sample standard deviation) of the runs.

--json prints one object:
  pp, tg                        integer: the sizes tested
  pp_tps_median, tg_tps_median  number: tokens per second, median of the runs
  pp_tps_spread, tg_tps_spread  number: their sample standard deviation
  pp_tps_samples, tg_tps_samples  array of numbers: every run
  threads       integer: CPU threads used
  batch         integer: batch size
  gpu_layers    integer: layers on the GPU (-1: all)
  reps          integer: runs of each test
  seconds       number: how long it took
  model         string: the model file
Fields may be added in later versions; these keep their names and meaning.
"""

SCORE_EPILOG = """\
APP is an installed or catalogue app (e.g. llmos.translator, llmos.summarise).
--data is a JSONL file of pairs (docs/lab.md), or the name of a bundled dataset:
translate-en-zh, translate-zh-en (for llmos.translator) or summaries-en (for
llmos.summarise). Each pair is run through the app with greedy decoding, then
scored against its references: bleu and chrf with sacrebleu (its Chinese
tokenizer for Chinese references), rouge (ROUGE-L F1) with rouge-score, Chinese
split into characters. Scores are 0-100. The model is --model, else the last
model the window loaded, else the starter model.

--json prints one object:
  app_id    string: the app
  metric    string: "bleu", "chrf" or "rouge"
  score     number: 0-100, higher is better
  n_pairs   integer: pairs scored
  model     string: the model file
  details   object: what the library reported ("signature" for sacrebleu, so
            the score can be reproduced; "rouge1", "rouge2", "rougeL"), "lang"
            (the references' language), "dataset", "decoding", "max_tokens",
            "seconds", and "outputs": per pair its "line", "id", "output" and
            "stopped_by"
Fields may be added in later versions; these keep their names and meaning.
"""

_USER_MISTAKES: Final = frozenset(
    {
        "invalid_source",
        "invalid_type",
        "invalid_text",
        "invalid_job",
        "invalid_dataset",
        "requantize_refused",
        "out_exists",
    }
)


def add_lab_commands(commands: Any) -> None:
    """Add ``llmos lab ...`` to the ``llmos`` parser's subcommands."""
    lab = commands.add_parser(
        "lab",
        help="quantize models, measure perplexity and speed, score apps",
        description="The model lab: every figure measured on this machine; results are "
        "stored with the Lab page's.",
    )
    lab.set_defaults(lab_parser=lab)
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    raw = argparse.RawDescriptionHelpFormatter

    quantize = actions.add_parser(
        "quantize", help="quantize a GGUF model", epilog=QUANTIZE_EPILOG, formatter_class=raw
    )
    quantize.add_argument("source", metavar="SRC", help="an F32, F16 or BF16 .gguf file")
    quantize.add_argument("--type", "-t", dest="qtype", required=True, metavar="TYPE")
    quantize.add_argument("--out", "-o", metavar="PATH", help="the new .gguf file")
    quantize.add_argument(
        "--allow-requantize",
        action="store_true",
        help="quantize an already quantized model (lossy: quality is lost twice)",
    )
    quantize.add_argument("--threads", type=int, default=0, metavar="N", help="0: llama.cpp's")
    quantize.add_argument("--json", action="store_true", help="print JSON (fields below)")

    perplexity = actions.add_parser(
        "perplexity",
        help="perplexity of a model on a text",
        epilog=PERPLEXITY_EPILOG,
        formatter_class=raw,
    )
    perplexity.add_argument("model", metavar="MODEL", help="a .gguf model file")
    perplexity.add_argument("--text", metavar="FILE", help="a UTF-8 text file")
    perplexity.add_argument(
        "--sample",
        choices=("en", "zh"),
        default="en",
        help="without --text: the bundled English or Chinese sample (default en)",
    )
    perplexity.add_argument(
        "--ctx", type=int, default=512, metavar="N", help="chunk size in tokens (default 512)"
    )
    perplexity.add_argument(
        "--chunks", type=int, metavar="N", help="score at most N chunks (default: all)"
    )
    perplexity.add_argument("--threads", type=int, default=0, metavar="N", help="0: automatic")
    perplexity.add_argument("--gpu-layers", type=int, default=0, metavar="N", help="-1: all")
    perplexity.add_argument("--json", action="store_true", help="print JSON (fields below)")

    bench = actions.add_parser(
        "bench",
        help="prompt and generation speed (like llama-bench)",
        epilog=BENCH_EPILOG,
        formatter_class=raw,
    )
    bench.add_argument("model", metavar="MODEL", help="a .gguf model file")
    bench.add_argument("--pp", type=int, default=512, metavar="N", help="prompt tokens (512)")
    bench.add_argument("--tg", type=int, default=128, metavar="N", help="generated tokens (128)")
    bench.add_argument("--reps", type=int, default=5, metavar="N", help="runs of each (5)")
    bench.add_argument("--threads", type=int, default=0, metavar="N", help="0: automatic")
    bench.add_argument("--batch", type=int, default=512, metavar="N", help="batch size (512)")
    bench.add_argument("--gpu-layers", type=int, default=0, metavar="N", help="-1: all")
    bench.add_argument("--json", action="store_true", help="print JSON (fields below)")

    score = actions.add_parser(
        "score",
        help="run a store app over a dataset and score its outputs",
        epilog=SCORE_EPILOG,
        formatter_class=raw,
    )
    score.add_argument("app", metavar="APP", help="an app's id")
    score.add_argument(
        "--data", required=True, metavar="FILE", help="a JSONL dataset, or a bundled one's name"
    )
    score.add_argument(
        "--metric", required=True, choices=("bleu", "chrf", "rouge"), help="the score (below)"
    )
    score.add_argument("--model", "-m", metavar="PATH", help="a .gguf model file")
    score.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="the longest output, in tokens (default: the app's)",
    )
    score.add_argument("--json", action="store_true", help="print JSON (fields below)")


def run_lab(args: argparse.Namespace) -> int:
    """Run ``llmos lab ACTION``; the exit status. Errors are printed as one line."""
    from llmos_desktop.core.apps.manifest import AppError
    from llmos_desktop.core.lab.types import LabError
    from llmos_desktop.core.models.types import ModelsError

    def lab_error(exc: LabError) -> tuple[str | None, int]:
        if exc.kind == "cancelled":
            return None, 130
        return one_line(exc.message, 600), 2 if exc.kind in _USER_MISTAKES else 1

    def app_error(exc: AppError) -> tuple[str, int]:
        return one_line(str(exc), 400), 2 if exc.kind in ("input", "template", "not_found") else 1

    progress = _Progress()
    return run_group(
        args,
        "lab",
        lambda action: _ACTIONS[action](args, progress),
        [
            (LabError, lab_error),
            (AppError, app_error),
            (ModelsError, lambda exc: (one_line(str(exc), 400), 1)),
        ],
        before_exit=progress.clear,
    )


# --- the actions ---------------------------------------------------------------------------


def _quantize(args: argparse.Namespace, progress: _Progress) -> int:
    from llmos_desktop.core.lab.types import QuantizeJob, QuantType

    qtype = QuantType.parse(args.qtype)
    source = Path(args.source).expanduser().absolute()
    with _service() as service:
        out = (
            Path(args.out).expanduser().absolute()
            if args.out
            else service.default_out(source, qtype)
        )
        job = QuantizeJob(
            source=source,
            qtype=qtype,
            out=out,
            allow_requantize=args.allow_requantize,
            n_threads=_non_negative(args.threads, "--threads"),
        )
        result = _run(service.quantize(job, progress))
        progress.clear()
        if args.json:
            _print_json(result.to_json())
            return 0
        _say(
            f"wrote {result.path} ({result.qtype.value}, {_size(result.size_bytes)}, "
            f"{result.seconds:.1f} s)"
        )
        _say(f"it loads and generates: “{one_line(result.verified_reply, 80)}”")
        return 0


def _perplexity(args: argparse.Namespace, progress: _Progress) -> int:
    from llmos_desktop.core.lab.perplexity import bundled_text
    from llmos_desktop.core.lab.types import PerplexityJob

    model = _model_file(args.model)
    if args.text:
        text = Path(args.text).expanduser().absolute()
        if not text.is_file():
            raise _cli_error(f"{text}: no such text file", 2)
    else:
        text = bundled_text("zh" if args.sample == "zh" else "en")
    if args.ctx < 16:
        raise _cli_error("--ctx must be at least 16 tokens", 2)
    if args.chunks is not None and args.chunks < 1:
        raise _cli_error("--chunks must be at least 1", 2)
    job = PerplexityJob(
        model=model,
        text_path=text,
        n_ctx=args.ctx,
        n_threads=_non_negative(args.threads, "--threads"),
        n_gpu_layers=_gpu_layers(args.gpu_layers),
        max_chunks=args.chunks,
    )
    with _service() as service:
        result = _run(service.perplexity(job, progress))
    progress.clear()
    if args.json:
        _print_json({**result.to_json(), "model": str(model), "text": str(text)})
        return 0
    _say(
        f"PPL = {result.ppl:.4f} +/- {result.ppl_stderr:.4f}  ({result.n_chunks} chunks of "
        f"{result.n_ctx} tokens, {result.n_tokens_scored} tokens scored, "
        f"{result.seconds:.1f} s; {model.name} on {text.name})"
    )
    return 0


def _bench(args: argparse.Namespace, progress: _Progress) -> int:
    from llmos_desktop.core.lab.types import BenchJob

    model = _model_file(args.model)
    for option, value in (("--pp", args.pp), ("--tg", args.tg)):
        _non_negative(value, option)
    if args.pp == 0 and args.tg == 0:
        raise _cli_error("--pp and --tg are both 0: nothing to measure", 2)
    if not 1 <= args.reps <= 100:
        raise _cli_error("--reps must be from 1 to 100", 2)
    if args.batch < 1:
        raise _cli_error("--batch must be at least 1", 2)
    job = BenchJob(
        model=model,
        n_threads=_non_negative(args.threads, "--threads"),
        n_batch=args.batch,
        n_gpu_layers=_gpu_layers(args.gpu_layers),
        pp=args.pp,
        tg=args.tg,
        reps=args.reps,
    )
    with _service() as service:
        result = _run(service.bench(job, progress))
    progress.clear()
    if args.json:
        _print_json({**result.to_json(), "model": str(model)})
        return 0
    _say(f"{model.name}: threads {result.threads}, batch {result.batch}, "
         f"GPU layers {result.gpu_layers}, {result.reps} runs each")  # fmt: skip
    if result.pp:
        _say(f"  pp{result.pp}: {result.pp_tps_median:9.2f} +/- {result.pp_tps_spread:.2f} t/s")
    if result.tg:
        _say(f"  tg{result.tg}: {result.tg_tps_median:9.2f} +/- {result.tg_tps_spread:.2f} t/s")
    return 0


def _score(args: argparse.Namespace, progress: _Progress) -> int:
    from llmos_desktop.cli import _ChatEngineHandle, _pick_model
    from llmos_desktop.core.chat.options import ChatOptions
    from llmos_desktop.core.lab.datasets import BUILTIN_DATASETS, builtin_dataset_path
    from llmos_desktop.core.models.gguf import ModelFileError, check_model_file

    data = Path(args.data).expanduser()
    if not data.exists() and args.data in BUILTIN_DATASETS:
        data = builtin_dataset_path(args.data)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise _cli_error("--max-tokens must be at least 1", 2)
    with _service() as service:
        # The app, the dataset and every pair's inputs are checked before an engine
        # starts: a mistake costs a moment, not a model load.
        app, dataset = service.prepare_score(args.app, data)
        settings = service.settings
        options = ChatOptions.from_settings(settings)
        model = _pick_model(args, options, settings, service.paths)
        spec = service.model_load(model)
        try:
            check_model_file(spec.path, n_ctx=spec.n_ctx)
        except ModelFileError as exc:
            raise _cli_error(exc.message, 1) from exc
        with _ChatEngineHandle(service.paths, settings) as handle:
            handle.load(spec)
            service.set_engine(handle.engine)
            coro = service.score(
                app, dataset, args.metric, spec, progress, max_tokens=args.max_tokens
            )
            try:
                result = handle.runner.call(coro)
            finally:
                service.set_engine(None)
    progress.clear()
    if args.json:
        _print_json(result.to_json())
        return 0
    details = result.details
    _say(
        f"{result.metric.upper()} = {result.score:.2f}  ({result.app_id} on "
        f"{details.get('dataset')}, {result.n_pairs} pairs, lang {details.get('lang') or '-'}, "
        f"{Path(result.model).name})"
    )
    if "signature" in details:
        _say(f"  sacrebleu {details['signature']}")
    if result.metric == "rouge":
        _say(
            f"  ROUGE-1 {details['rouge1']:.2f}  ROUGE-2 {details['rouge2']:.2f}  "
            f"ROUGE-L {details['rougeL']:.2f}"
        )
    cut = sum(1 for item in details.get("outputs", []) if item.get("stopped_by") == "max_tokens")
    if cut:
        _note(f"llmos: note: {cut} outputs reached the token limit (--max-tokens)")
    return 0


_ACTIONS: Final[dict[str, Callable[[argparse.Namespace, _Progress], int]]] = {
    "quantize": _quantize,
    "perplexity": _perplexity,
    "bench": _bench,
    "score": _score,
}


# --- helpers -------------------------------------------------------------------------------


class _Progress:
    """Progress on stderr, on one line rewritten in place, only when it is a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._shown = False

    def __call__(self, progress: LabProgress) -> None:
        if not self.tty:
            return
        share = f" {progress.fraction * 100:5.1f}%" if progress.fraction is not None else ""
        detail = f"  {one_line(progress.detail, 60)}" if progress.detail else ""
        with contextlib.suppress(OSError):
            sys.stderr.write(f"\r\033[K{progress.stage}{share}{detail}")
            sys.stderr.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            with contextlib.suppress(OSError):
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()
            self._shown = False


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a lab coroutine to its end; Ctrl+C cancels it (the worker is ended and a
    partial file removed) and comes back as KeyboardInterrupt."""
    runner = asyncio.Runner()
    try:
        return runner.run(coro)
    finally:
        runner.close()


@contextlib.contextmanager
def _service() -> Iterator[LabService]:
    """The lab's front with the app's folders and settings (read only: the window owns
    the settings file); the lab's log goes to ``logs/lab.log``."""
    from llmos_desktop.core.lab.service import LabService
    from llmos_desktop.core.paths import app_paths
    from llmos_desktop.core.settings import load_settings

    paths = app_paths().ensure()
    _logging(paths.logs / "lab-cli.log")
    service = LabService(paths, load_settings(paths.settings_file))
    try:
        yield service
    finally:
        service.close()


def _logging(path: Path) -> None:
    import logging

    logger = logging.getLogger("llmos_desktop")
    if not logger.handlers:
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _model_file(value: str) -> Path:
    path = Path(value).expanduser().absolute()
    if not path.is_file():
        raise _cli_error(f"{one_line(str(path), 300)}: no such model file", 2)
    return path


def _non_negative(value: int, option: str) -> int:
    if value < 0:
        raise _cli_error(f"{option} must be 0 or more", 2)
    return value


def _gpu_layers(value: int) -> int:
    if value < -1:
        raise _cli_error("--gpu-layers must be -1 (all) or more", 2)
    return value


def _cli_error(message: str, code: int) -> Exception:
    from llmos_desktop.cli import CliError

    return CliError(message, code=code)


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"
