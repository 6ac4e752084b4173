"""ByteQueue, the storage under the proxies: compiled and twin, against a bytes model."""

from __future__ import annotations

import random
import tracemalloc

import pytest

@pytest.fixture(params=["compiled", "twin"])
def kind(request):
    """Which implementation (the twin run deselects "compiled")."""
    return request.param


@pytest.fixture
def ByteQueue(kind):
    if kind == "compiled":
        from pcp._queue import ByteQueue as cls
    else:
        from pcp._queue_py import ByteQueue as cls
    return cls


def test_small_writes_come_back_as_one_object_in_order(ByteQueue):
    q = ByteQueue()
    for i in range(100):
        assert q.append(bytes([i]) * 64) == 64
    data = q.peek()
    assert data == b"".join(bytes([i]) * 64 for i in range(100))
    assert q.peek() is data  # peeking again hands out the same object
    q.consume(len(data))
    assert q.size == len(q) == 0 and q.peek() == b""


def test_a_handed_out_block_never_changes(ByteQueue):
    q = ByteQueue()
    q.append(b"a" * 100)
    first = q.peek()
    q.append(b"b" * 100)  # lands after the handed-out bytes, not in them
    assert first == b"a" * 100
    assert q.peek() == b"a" * 100 + b"b" * 100
    q.consume(150)
    assert q.peek() == b"b" * 50
    assert first == b"a" * 100


@pytest.mark.compiled_only
def test_the_consumer_receives_the_block_itself():
    from pcp._queue import ByteQueue

    # One copy per small write: after 16 MiB of 64-byte writes and one peek,
    # the process holds the data once (the sealed block, given to the
    # consumer), not twice (a buffer and a copy of it for the consumer).
    q = ByteQueue()
    chunk = b"x" * 64
    total = 16 << 20
    tracemalloc.start()
    try:
        for _ in range(total // 64):
            q.append(chunk)
        data = q.peek()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(data) == total
    assert held < total * 1.1, held
    q.consume(total)
    assert data == chunk * (total // 64)


def test_large_bytes_are_kept_by_reference(ByteQueue):
    q = ByteQueue()
    big = bytes(range(256)) * 64
    q.append(big)
    assert q.peek() is big
    q.consume(1000)
    assert q.peek() == big[1000:]


def test_other_buffers_are_copied(ByteQueue):
    q = ByteQueue()
    data = bytearray(b"abc" * 2000)
    q.append(data)
    data[:3] = b"XYZ"
    assert q.peek()[:3] == b"abc"
    assert q.as_bytes(memoryview(b"hi")) == b"hi"
    assert q.measure(bytearray(5)) == 5


@pytest.mark.parametrize("bad", ["text", None, 3, 1.5])
def test_non_buffers_are_refused_and_change_nothing(ByteQueue, bad):
    q = ByteQueue()
    q.append(b"kept")
    for method in (q.append, q.measure, q.as_bytes):
        with pytest.raises(TypeError, match="a bytes-like object is required"):
            method(bad)
    assert q.peek() == b"kept"


def test_non_contiguous_buffers_are_refused(ByteQueue):
    q = ByteQueue()
    with pytest.raises(BufferError):
        q.append(memoryview(b"abcdef")[::2])
    assert q.size == 0


def test_push_front_puts_the_rest_before_everything_held(ByteQueue):
    q = ByteQueue()
    q.reserve_front()
    q.append(b"later")
    rest = b"0123456789" * 500
    q.push_front(rest, 4990)
    assert q.peek() == b"0123456789" + b"later"


@pytest.mark.parametrize("n", [-1, 11])
def test_consuming_more_than_held_is_refused(ByteQueue, n):
    q = ByteQueue()
    q.append(b"0123456789")
    with pytest.raises(ValueError, match="cannot consume"):
        q.consume(n)
    assert q.peek() == b"0123456789"


def test_copies_are_refused(ByteQueue):
    import copy

    with pytest.raises(TypeError, match="cannot copy or pickle 'ByteQueue' objects"):
        copy.copy(ByteQueue())


def test_random_operations_match_a_model(ByteQueue):
    rng = random.Random(1234)
    q, model = ByteQueue(), bytearray()
    for _ in range(3000):
        op = rng.random()
        if op < 0.5:
            n = rng.choice([0, 1, 63, 64, 4095, 4096, 10000])
            data = bytes(rng.getrandbits(8) for _ in range(min(n, 50))) * (n // 50 + 1)
            data = data[:n]
            kind = rng.choice([bytes, bytearray, memoryview])
            q.append(kind(data))
            model += data
        elif op < 0.75:
            assert q.peek() == model
        elif op < 0.9 and model:
            k = rng.randint(0, len(model))
            q.consume(k)
            del model[:k]
        else:
            q.reserve_front()
            rest = bytes(rng.getrandbits(8) for _ in range(20))
            start = rng.randint(0, 20)
            q.push_front(rest, start)
            model[:0] = rest[start:]
        assert q.size == len(model)
    assert q.peek() == model


@pytest.mark.parametrize("start", [-2, 4])
def test_push_front_checks_its_arguments(ByteQueue, start):
    q = ByteQueue()
    q.append(b"abc")
    with pytest.raises(ValueError, match="outside 0..3"):
        q.push_front(b"xyz", start)
    with pytest.raises(TypeError):
        q.push_front(None, 0)
    assert q.peek() == b"abc"
