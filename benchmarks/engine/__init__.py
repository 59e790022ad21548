"""Engine benchmark: our engine against llama-cpp-python direct and its own server.

Run from the repository root::

    .venv/bin/python -m benchmarks.engine [--threads N] [--max-tokens N] [--reps N] [--quick]

Every number that is compared is measured in this one run, variants interleaved
(A, B, C, then B, C, A, ...), and reported as the median over the repetitions,
because the machines we run on are shared and noisy: a ratio from one run is
stable, an absolute time is not. See benchmarks/README.md for what each number
means. Exits 0 whatever the numbers are (a benchmark, not a test); 1 only if
something crashed. Every process it starts is stopped at the end, also on error
or Ctrl-C.

The modules, in the order a run uses them:

- ``common``: what every variant shares (n_ctx, greedy sampling, the prompt) and
  small helpers (median, formatting, log);
- ``processes``: starting and stopping processes, CPU accounting per process and
  thread (schedstat, psutil), the CPU other processes use meanwhile;
- ``direct_worker``: the direct baseline, ``llama_cpp.Llama.generate`` in its own
  process (``python -m benchmarks.engine.direct_worker``);
- ``targets``: what is measured: our engine (streamed with the ``openai`` client and
  with the app's own client), the direct worker, ``llama_cpp.server``;
- ``workloads``: generation, TTFT over a growing conversation, three conversations
  in rotation, GUI start-up;
- ``report``: the tables, ratios, verdicts and the summary lines;
- ``__main__``: the options and the run.

This file imports nothing, so the direct worker starts without the client libraries.
"""
