"""Replay the fuzzers' inputs without atheris.

Three targets, each with its seed corpus and its regressions (inputs that
once crashed or failed), replayed through the target's own decoder and
checker:

- the ring (``fuzz/corpus/``, ``fuzz/regressions/``, ``fuzz/ring_ops.py``): a
  ``bytearray`` model against the RingBuffer, each implementation alone and
  both side by side (then their capacities must also agree);
- the proxies' storage (``fuzz/corpus_queue/``, ``fuzz/regressions_queue/``,
  ``fuzz/queue_ops.py``): a bytes model against ByteQueue, compiled and twin
  side by side (same results, same exceptions);
- the proxies (``fuzz/corpus_proxy/``, ``fuzz/regressions_proxy/``,
  ``fuzz/proxy_ops.py``): the delivered stream against what was accepted, and
  the compiled trace against the twin's.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import proxy_ops  # noqa: E402
import queue_ops  # noqa: E402
import ring_ops  # noqa: E402


def _inputs(*dirs: str) -> list:
    return sorted(p for d in dirs for p in (FUZZ / d).glob("[!.]*") if p.is_file())


INPUTS = _inputs("corpus", "regressions")
QUEUE_INPUTS = _inputs("corpus_queue", "regressions_queue")
PROXY_INPUTS = _inputs("corpus_proxy", "regressions_proxy")


def test_there_are_inputs_to_replay():
    assert len(INPUTS) >= 2, INPUTS
    assert len(QUEUE_INPUTS) >= 2, QUEUE_INPUTS
    assert len(PROXY_INPUTS) >= 2, PROXY_INPUTS


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
    # A ring that drops its last byte on read: the checker must notice. (The
    # twin, like the compiled type, refuses subclasses: wrap it instead.)
    ring_class = ring_ops_reference()

    class Lossy:
        def __init__(self, capacity):
            self._ring = ring_class(capacity)

        def __getattr__(self, name):
            return getattr(self._ring, name)

        def __len__(self):
            return len(self._ring)

        def read(self, n=-1):
            out = self._ring.read(n)
            return out[:-1] if len(out) > 1 else out

    data = bytes([9, 0, 0, 10, 0, 0, 5, 255, 0])
    ring_ops.run(data, [ring_class])  # the input passes on the real ring
    with pytest.raises(AssertionError):
        ring_ops.run(data, [Lossy])


# -- ByteQueue ---------------------------------------------------------------------


def _queues(both):
    """The compiled ByteQueue and its twin (``both`` skips the test when there is no compiled one)."""
    from pcp import _queue, _queue_py

    return [_queue.ByteQueue, _queue_py.ByteQueue]


def test_replay_queue_inputs_side_by_side(both):
    queues = _queues(both)
    for path in QUEUE_INPUTS:
        try:
            queue_ops.run(path.read_bytes(), queues)
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(FUZZ)}: {exc}") from exc


def test_replay_queue_inputs_on_the_twin_alone():
    from pcp._queue_py import ByteQueue

    for path in QUEUE_INPUTS:
        queue_ops.run(path.read_bytes(), [ByteQueue])


def test_random_queue_inputs_side_by_side(both):
    queues = _queues(both)
    rng = random.Random(7)
    for _ in range(200):
        queue_ops.run(rng.randbytes(rng.randrange(1, 200)), queues)


def test_queue_decoder_covers_every_operation():
    data = bytes([
        0, 2, 10, 0, 0,          # append 10 bytes as a bytearray
        3, 0, 0x10, 0x00, 0, 0,  # append 4096 exact bytes (kept by reference)
        4, 3,                    # append an empty memoryview
        5, 0, 3,                 # append a non-contiguous view: BufferError
        6,                       # peek
        8, 5,                    # consume 5
        10, 3, 20, 100, 0, 9,    # reserve_front + push_front(20 bytes, start 7)
        11, 1, 0, 4, 0, 0,       # measure 4 exact bytes
        11, 0, 6, 4, 0, 0,       # as_bytes of a bytes subclass
        12,                      # mutate the appended bytearrays
    ])
    ops = queue_ops.decode(data)
    assert [name for name, _ in ops] == [
        "append", "append", "append", "bad", "peek", "consume", "push", "measure", "as_bytes", "mutate"]
    assert ops[1] == ("append", (0, 4096, 0)) and ops[6] == ("push", (20, 9, 7, True))
    from pcp._queue_py import ByteQueue

    assert queue_ops.run(data, [ByteQueue]) == len(ops)


class _WrongQueue:
    """A twin queue that makes one mistake, for the checker tests below."""

    def __init__(self, mistake):
        from pcp._queue_py import ByteQueue

        self._q = ByteQueue()
        self._mistake = mistake

    def __getattr__(self, name):
        return getattr(self._q, name)

    def __len__(self):
        return len(self._q)

    def append(self, data):
        if self._mistake == "keeps a reference to a bytearray" and isinstance(data, bytearray):
            self._q._chunks.append(data)  # not copied: a later change shows
            self._q.size += len(data)
            return len(data)
        return self._q.append(data)

    def peek(self):
        chunks = list(self._q._chunks)  # before the peek: the twin may join them
        out = self._q.peek()
        if self._mistake == "reorders" and len(chunks) > 1 and not self._q._offset:
            return b"".join(reversed(chunks))
        return out

    def push_front(self, data, start):
        if self._mistake == "push_front ignores start":
            start = 0
        return self._q.push_front(data, start)


@pytest.mark.parametrize("mistake", ["keeps a reference to a bytearray", "reorders", "push_front ignores start"])
def test_queue_checker_catches_a_wrong_queue(mistake):
    from pcp._queue_py import ByteQueue

    data = bytes([0, 2, 10, 0, 0, 0, 0, 10, 0, 50, 10, 3, 20, 100, 0, 9, 12, 6])
    queue_ops.run(data, [ByteQueue])  # the input passes on the real queue
    with pytest.raises(AssertionError):
        queue_ops.run(data, [lambda: _WrongQueue(mistake)])


# -- the proxies -------------------------------------------------------------------


def test_replay_proxy_inputs_side_by_side(both):
    for path in PROXY_INPUTS:
        try:
            proxy_ops.run_both(path.read_bytes(), list(both))
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(FUZZ)}: {exc}") from exc


def test_replay_proxy_inputs_on_the_twin_alone():
    # (The compiled proxies run side by side above; this covers the twin-only suite.)
    from pcp._implementations import load

    for path in PROXY_INPUTS:
        proxy_ops.run(path.read_bytes(), load("twin"))


def test_random_proxy_inputs_side_by_side(both):
    rng = random.Random(8)
    for i in range(60):
        proxy_ops.run_both(bytes([i % 4]) + rng.randbytes(rng.randrange(1, 150)), list(both))


def test_proxy_decoder_covers_every_operation():
    data = bytes([
        3,                    # ProducerConsumerProxy, a pull proxy
        0, 0, 10, 0, 0,       # write 10 bytes
        4, 3, 0x10, 0, 0, 0,  # write 4096 bytes as a bytearray
        5, 0,                 # write a str: TypeError
        6, 7, 8,              # pause, resume, resume
        9, 1,                 # window 1
        10, 0,  2,            # bufferSize 100
        11, 1, 5,             # a push producer writing 1 chunk of 5 bytes per resume
        12, 3, 9,             # a pull producer of 3 chunks of 9 bytes
        13,                   # unregister
        14, 1,                # the consumer pauses the proxy from inside its writes
        15, 1, 15, 0,         # finish, stop (a multiple of 32)
    ])
    (name, pull), ops = proxy_ops.decode(data)
    assert (name, pull) == ("ProducerConsumerProxy", True)
    assert [op for op, _ in ops] == [
        "write", "write", "bad", "pause", "resume", "resume", "window", "bufferSize",
        "push", "pull", "unregister", "action", "finish", "stop"]
    from pcp._implementations import load

    assert len(proxy_ops.run(data, load("twin"))) == len(ops) + 1


def _wrong(ns, mistake):
    """*ns* with a ProducerConsumerProxy that makes one mistake."""
    import types

    base = ns.ProducerConsumerProxy

    class Wrong(base):
        def _writeSomeData(self, data):
            if mistake == "duplicates" and len(data) > 3:
                base._writeSomeData(self, data[:3])
            elif mistake == "splits" and len(data) > 3:
                base._writeSomeData(self, data[:3])
                base._writeSomeData(self, data[3:])
                return len(data)
            elif mistake == "drops" and len(data) > 3:
                base._writeSomeData(self, data[:-1])
                return len(data)
            return base._writeSomeData(self, data)

    return types.SimpleNamespace(ProducerConsumerProxy=Wrong, BasicProducerConsumerProxy=ns.BasicProducerConsumerProxy)


@pytest.mark.parametrize("mistake", ["duplicates", "drops"])
def test_proxy_checker_catches_a_wrong_proxy(impl, mistake):
    # One write passed through to the consumer: a byte sent twice or dropped must be seen.
    data = bytes([1, 0, 0, 10, 0, 0])
    proxy_ops.run(data, impl)
    with pytest.raises(AssertionError):
        proxy_ops.run(data, _wrong(impl, mistake))


def test_proxy_checker_catches_a_difference_between_implementations():
    from pcp._implementations import load

    twin = load("twin")
    data = bytes([1, 0, 0, 10, 0, 0])
    with pytest.raises(AssertionError):
        proxy_ops.run_both(data, [twin, _wrong(twin, "splits")])
    proxy_ops.run(data, _wrong(twin, "splits"))  # the stream itself is right

