"""The direct baseline: ``llama_cpp.Llama.generate`` in its own process (no HTTP, no client).

Started by ``targets.DirectBaseline`` as ``python -m benchmarks.engine.direct_worker MODEL
THREADS``, so it shares no GIL with the benchmark's clients. It prints ``READY_LINE``
once the model is loaded, then loops: one JSON command per stdin line
(``{"message": ..., "max_tokens": ...}``), one ``RESULT_PREFIX`` + JSON line back.
"""

from __future__ import annotations

import codecs
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks.engine.common import GREEDY, N_CTX

if TYPE_CHECKING:
    from llmos_desktop.core.templates import ChatTemplate

RESULT_PREFIX = "BENCH-RESULT "
READY_LINE = "BENCH-READY"


def gemma_prompt_template() -> ChatTemplate:
    """The app's Gemma chat template, printing no BOS text: ``tokenize`` adds the BOS token.

    For one user message it renders ``<start_of_turn>user\\n{message stripped}<end_of_turn>\\n
    <start_of_turn>model\\n``, the text the engine's template renders after its BOS.
    """
    from llmos_desktop.core.templates import choose_template

    return choose_template(model_template=None, architecture="gemma3", bos_token="")


def run_worker(model: str, threads: int) -> int:
    """Load the model, then answer generation commands read from stdin until it closes."""
    import llama_cpp

    from llmos_desktop.core.engine.process.llama_api import sampling_args

    out = sys.stdout
    template = gemma_prompt_template()
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        swa_full=True,  # as our runtime
        verbose=False,
    )
    vocab = llm._model.vocab
    out.write(READY_LINE + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        max_tokens = int(command["max_tokens"])
        text = template.render(
            [{"role": "user", "content": command["message"]}], add_generation_prompt=True
        )
        tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        parts: list[str] = []
        times: list[float] = []
        eos = False
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        # The same keyword arguments as the engine's runtime (one mapping of the contract).
        generator = llm.generate(tokens, **sampling_args(GREEDY))
        for token in generator:
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                eos = True
                break
            parts.append(decoder.decode(llm.detokenize([token])))
            times.append(time.perf_counter())
            if len(times) >= max_tokens:
                break
        generator.close()
        cpu = time.process_time() - cpu0
        n = len(times)
        result = {
            "tokens": n,
            "tokens_per_s": (n - 1) / (times[-1] - times[0]) if n > 1 else None,
            "chunks": n,
            "ttft_s": times[0] - t0 if times else None,
            "eos": eos,
            "prompt_tokens": len(tokens),
            "text": "".join(parts),
            "cpu_s": cpu,
        }
        out.write(RESULT_PREFIX + json.dumps(result) + "\n")
        out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m benchmarks.engine.direct_worker MODEL THREADS", file=sys.stderr)
        return 2
    return run_worker(args[0], int(args[1]))


if __name__ == "__main__":
    raise SystemExit(main())
