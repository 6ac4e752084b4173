"""Atheris fuzz target for pcp's proxies, the compiled core against its twin.

Each input decodes (``fuzz/proxy_ops.py``) into a proxy class (basic or
buffered, streaming or pull) and a sequence of writes, pauses and resumes,
partial-write windows, mark changes, push and pull producers, re-entrant
consumer calls, finish and stop. It runs on ``pcp._implementations.load(
"compiled")`` and ``load("twin")``; each run must deliver a prefix of what
was accepted (each byte once, in order; everything after a final flush) with
counters to match, and both runs must give the same trace.

Run::

    python fuzz/fuzz_proxy.py /tmp/proxy-corpus fuzz/corpus_proxy -max_total_time=600

or under ASan with coverage of the C code: ``tools/fuzz.sh 600 proxy``. A
crash writes ``crash-<sha1>``: copy it into ``fuzz/regressions_proxy/`` so
``tests/test_fuzz_regressions.py`` replays it.
"""

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports():
    import proxy_ops
    import ring_ops  # noqa: F401  (the shared decoder helpers)
    from pcp import _core, _proxy, _queue_py  # noqa: F401  (the twin, instrumented)

from pcp._implementations import load  # noqa: E402

IMPLEMENTATIONS = (load("compiled"), load("twin"))
_REPORT_EVERY = 1 << 12
_inputs = 0
_operations = 0


def TestOneInput(data: bytes) -> None:
    """libFuzzer's entry point: one input, on both implementations."""
    global _inputs, _operations
    _operations += proxy_ops.run_both(data, IMPLEMENTATIONS)
    _inputs += 1
    if _inputs % _REPORT_EVERY == 0:
        print(f"fuzz_proxy: {_inputs} inputs, {_operations} proxy operations", file=sys.stderr, flush=True)


def main() -> None:
    """Hand sys.argv (libFuzzer flags, corpus directories) to atheris and fuzz."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
