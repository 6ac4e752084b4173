"""Atheris fuzz target for pcp's ByteQueue (the proxies' storage).

Each input decodes (``fuzz/queue_ops.py``) into a sequence of appends (small
and large exact bytes, bytearray, memoryview, array, bytes subclasses, empty
ones, refused ones), peeks, consumes, reserve_front + push_front, measure and
as_bytes, run on the compiled queue (``pcp._queue``) and its pure-Python twin
(``pcp._queue_py``) side by side and checked against a bytes model after
every operation: same results, same exceptions, and bytes handed out by a
peek never change afterwards.

Run (libFuzzer flags pass through; the first directory collects new inputs,
the seed corpus is read too)::

    python fuzz/fuzz_queue.py /tmp/queue-corpus fuzz/corpus_queue -max_total_time=600

or under ASan with coverage of the C code: ``tools/fuzz.sh 600 queue``. A
crash writes ``crash-<sha1>``: copy it into ``fuzz/regressions_queue/`` so
``tests/test_fuzz_regressions.py`` replays it.
"""

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports():
    import queue_ops
    import ring_ops  # noqa: F401  (the shared decoder helpers)
    from pcp import _queue_py

from pcp import _queue  # noqa: E402  (compiled: instrumented by the C compiler, if at all)

QUEUES = (_queue.ByteQueue, _queue_py.ByteQueue)
_REPORT_EVERY = 1 << 13
_inputs = 0
_operations = 0


def TestOneInput(data: bytes) -> None:
    """libFuzzer's entry point: one input, checked against the model."""
    global _inputs, _operations
    _operations += queue_ops.run(data, QUEUES)
    _inputs += 1
    if _inputs % _REPORT_EVERY == 0:
        print(f"fuzz_queue: {_inputs} inputs, {_operations} queue operations", file=sys.stderr, flush=True)


def main() -> None:
    """Hand sys.argv (libFuzzer flags, corpus directories) to atheris and fuzz."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
