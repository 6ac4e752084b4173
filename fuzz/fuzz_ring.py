"""Atheris fuzz target for pcp's RingBuffer.

Each input decodes (``fuzz/ring_ops.py``) into a capacity hint and a sequence
of writes (every accepted buffer type, and refused ones), reads, peeks,
advances and clears, run on the compiled ring and the pure-Python twin side by
side and checked against a ``bytearray`` model after every operation.

Run (libFuzzer flags pass through; the first directory collects new inputs,
the seed corpus is read too)::

    python fuzz/fuzz_ring.py -max_total_time=600
    python fuzz/fuzz_ring.py /tmp/ring-corpus fuzz/corpus -max_total_time=600

With a clang build of the extension (``-fsanitize=address,fuzzer-no-link``,
see ``tools/fuzz.sh``) libFuzzer also sees coverage of the C code and ASan
checks every memory access. A crash writes ``crash-<sha1>``: copy it into
``fuzz/regressions/`` so ``tests/test_fuzz_regressions.py`` replays it.
"""

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports():
    import ring_ops
    from pcp import _buffer_py

from pcp import _buffer  # noqa: E402  (compiled: instrumented by the C compiler, if at all)

RINGS = (_buffer.RingBuffer, _buffer_py.RingBuffer)
_REPORT_EVERY = 1 << 13
_inputs = 0
_operations = 0


def TestOneInput(data: bytes) -> None:
    """libFuzzer's entry point: one input, checked against the model."""
    global _inputs, _operations
    _operations += ring_ops.run(data, RINGS)
    _inputs += 1
    if _inputs % _REPORT_EVERY == 0:
        print(f"fuzz_ring: {_inputs} inputs, {_operations} ring operations", file=sys.stderr, flush=True)


def main() -> None:
    """Hand sys.argv (libFuzzer flags, corpus directories) to atheris and fuzz."""
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
