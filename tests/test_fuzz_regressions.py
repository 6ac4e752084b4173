"""Replay the ring buffer fuzzer's inputs without atheris.

Every file in ``fuzz/corpus/`` (seeds and inputs the fuzzer found
interesting) and ``fuzz/regressions/`` (inputs that once crashed or failed)
goes through the fuzz target's own decoder and checker,
``fuzz/ring_ops.py``: a ``bytearray`` model against the ring. Each input runs
on each implementation alone and on both side by side (then their capacities
must also agree), as ``fuzz/fuzz_ring.py`` does.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import ring_ops  # noqa: E402

INPUTS = sorted(
    p for d in ("corpus", "regressions") for p in (FUZZ / d).glob("[!.]*") if p.is_file()
)


def test_there_are_inputs_to_replay():
    assert len(INPUTS) >= 2, INPUTS


def test_replay_saved_inputs(impl):
    for path in INPUTS:
        try:
            ring_ops.run(path.read_bytes(), [impl.RingBuffer])
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(FUZZ)}: {exc}") from exc


def test_replay_saved_inputs_side_by_side(both):
    compiled, twin = both
    for path in INPUTS:
        ring_ops.run(path.read_bytes(), [compiled.RingBuffer, twin.RingBuffer])


def test_random_inputs_side_by_side(both):
    # A few hundred fresh inputs per run, seeded so that a failure repeats.
    compiled, twin = both
    rng = random.Random(6)
    for _ in range(300):
        data = rng.randbytes(rng.randrange(1, 200))
        ring_ops.run(data, [compiled.RingBuffer, twin.RingBuffer])


def test_decoder_covers_every_operation():
    # One input that names each opcode, to keep the decoder honest.
    data = bytes([
        6,                       # capacity hint 64
        0, 0, 10, 0, 0,          # write 10 bytes as bytes
        3, 1, 0, 40, 0, 7,       # write 160 bytes as bytearray
        4, 3,                    # a non-contiguous view: BufferError
        5, 3,                    # read 3
        7, 255, 0,               # peek everything
        8, 254, 1,               # advance past the end: ValueError
        9,                       # clear
    ])
    capacity, ops = ring_ops.decode(data)
    assert capacity == 64
    assert ops == [
        ("write", (0, 10, 0)), ("write", (1, 160, 7)), ("bad", 3), ("read", 3),
        ("peek", -1), ("advance", 167 + 2), ("clear", None),
    ]
    assert ring_ops.run(data, [ring_ops_reference()]) == len(ops)


def ring_ops_reference():
    """The twin RingBuffer class (subclassable, unlike the compiled one)."""
    from pcp._buffer_py import RingBuffer

    return RingBuffer


def test_checker_catches_a_wrong_ring():
    # A ring that drops its last byte on read: the checker must notice.
    class Lossy(ring_ops_reference()):
        def read(self, n=-1):
            out = super().read(n)
            return out[:-1] if len(out) > 1 else out

    with pytest.raises(AssertionError):
        ring_ops.run(bytes([9, 0, 0, 10, 0, 0, 5, 255, 0]), [Lossy])

