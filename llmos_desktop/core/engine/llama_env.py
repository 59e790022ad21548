"""The environment of a process that runs llama.cpp (the engine, the Lab's worker).

llama.cpp's CPU backend in the Linux wheels runs its threads with GNU OpenMP, whose
workers, after each piece of work, spin for a while (GOMP_SPINCOUNT, 300,000 turns by
default) before they sleep. llama-server goes straight from one token's computation to
the next, so that spin is where its next work arrives. Our engine spends part of each
token in Python (sampling, stop strings, the stream to the client, other requests'
bookkeeping), and meanwhile the workers spin on the cores that Python needs. On a quiet
machine that costs nothing visible; on a machine where another program takes one of the
cores it became a collapse: measured here (2 cores, one busy loop beside the engine,
Gemma 3 270M, 2 threads, four 96-token replies) the engine needed over 120 s where
llama-server needed a few, with four parallel slots and with one.

A short spin keeps what the spin is for (the waits between the steps of one token's
computation are short and still caught) and lets the workers sleep through the Python
part: with 1,000 turns the same load took 9 s (4 slots) and 17 s (1 slot), and the quiet
machine was as fast as with the default (within run-to-run noise). OMP_WAIT_POLICY=passive
(no spin at all) took 7 s and 12 s under load, but the quiet machine lost 30-60 %.
A user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY is left as it is. Other OpenMP runtimes
(MSVC's, LLVM's libomp) do not read GOMP_SPINCOUNT; nothing changes there.
"""

from __future__ import annotations

from collections.abc import Mapping

GOMP_SPINCOUNT = "1000"


def llama_process_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with the OpenMP spin shortened, unless the user chose their own."""
    env = dict(base)
    if "GOMP_SPINCOUNT" not in env and "OMP_WAIT_POLICY" not in env:
        env["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    return env
