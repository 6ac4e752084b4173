"""Decode fuzzer input into RingBuffer operations and check them against a model.

Shared by the atheris target (``fuzz/fuzz_ring.py``) and the regression test
(``tests/test_fuzz_regressions.py``), which replays saved inputs without
atheris. The model is a ``bytearray``; every ring under test (the compiled one,
the pure-Python twin, or both side by side) must agree with it after every
operation, including which operations raise and what they raise.

Input format, a byte stream read front to back (missing bytes read as 0):
the first byte picks the capacity hint, then each operation is an opcode byte
followed by its arguments.
"""

from __future__ import annotations

import array
import random
from typing import Callable, List, Optional, Sequence, Tuple, Type

__all__ = ["decode", "run", "Op"]

# (name, argument, expected exception type or None)
Op = Tuple[str, object, Optional[Type[BaseException]]]

_CAPACITIES = (0, 1, 2, 3, 7, 63, 64, 65, 100, 4096, 65536)
_BLOCK = random.Random(20240607).randbytes(1 << 19)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()


def _payload(kind: int, n: int, offset: int) -> Tuple[object, bytes]:
    """A bytes-like object of type *kind* holding *n* bytes; and those bytes."""
    raw = _BLOCK[offset : offset + n]
    if kind == 0:
        return raw, raw
    if kind == 1:
        return bytearray(raw), raw
    if kind == 2:
        return memoryview(raw), raw
    if kind == 3:
        # A contiguous slice from the middle of a larger bytearray.
        big = bytearray(b"\xee" * 3 + raw + b"\xdd" * 5)
        return memoryview(big)[3 : 3 + n], raw
    if kind == 4:
        # A wider item type: the ring takes the raw bytes.
        even = raw[: n - n % 2]
        return array.array("H", even), even
    # A C-contiguous 2-D view (a cast cannot have a zero in its shape).
    if n == 0:
        return memoryview(raw), raw
    rows = 2 if n % 2 == 0 else 1
    return memoryview(raw).cast("B", (rows, n // rows)), raw


def _bad_payload(kind: int) -> Tuple[object, Type[BaseException]]:
    """An object a ring must refuse, and the exception it must raise."""
    if kind == 0:
        return "text", TypeError
    if kind == 1:
        return None, TypeError
    if kind == 2:
        return 12345, TypeError
    if kind == 3:
        return memoryview(b"abcdefgh")[::2], BufferError
    return [1, 2, 3], TypeError


def _amount(r: _Reader, held: int) -> int:
    """Decode a count for read/peek/advance relative to *held* bytes."""
    b = r.byte()
    if b < 128:
        return b
    if b < 250:
        return (b - 128) * held // 121
    if b < 254:
        return held
    if b == 254:
        return held + 1 + r.byte()
    return -1 - r.byte() % 3


def decode(data: bytes) -> Tuple[int, List[Tuple[str, object]]]:
    """Turn fuzzer input into (capacity hint, operations).

    Each operation is (name, argument): ``("write", (kind, n, offset))``,
    ``("bad", kind)``, ``("read", n)``, ``("peek", n)``, ``("advance", n)``,
    ``("clear", None)``. Counts for read/peek/advance depend on how much the
    model holds, so decoding tracks the model's length as it goes.
    """
    r = _Reader(data)
    first = r.byte()
    capacity = _CAPACITIES[first % len(_CAPACITIES)] if first < 200 else r.u16()
    ops: List[Tuple[str, object]] = []
    held = 0
    while r.more():
        code = r.byte() % 10
        if code in (0, 1, 2):
            kind, n, offset = r.byte() % 6, r.byte(), r.u16()
            if kind == 4:
                n -= n % 2
            ops.append(("write", (kind, n, offset)))
            held += n
        elif code == 3:
            kind, n, offset = r.byte() % 6, r.u16() * 4, r.u16()
            if kind == 4:
                n -= n % 2
            ops.append(("write", (kind, n, offset)))
            held += n
        elif code == 4:
            ops.append(("bad", r.byte() % 5))
        elif code in (5, 6):
            n = _amount(r, held)
            ops.append(("read", n))
            held -= held if n < 0 or n > held else n
        elif code == 7:
            ops.append(("peek", _amount(r, held)))
        elif code == 8:
            n = _amount(r, held)
            ops.append(("advance", n))
            if 0 <= n <= held:
                held -= n
        else:
            ops.append(("clear", None))
            held = 0
    return capacity, ops


def _outcome(call: Callable[[], object]) -> Tuple[object, Optional[type]]:
    try:
        return call(), None
    except (TypeError, ValueError, BufferError) as exc:
        return None, type(exc)


def run(data: bytes, rings: Sequence[type]) -> int:
    """Replay *data* on one ring of each class in *rings* and on the model.

    Raises AssertionError on the first disagreement. Returns the number of
    operations run.
    """
    capacity, ops = decode(data)
    model = bytearray()
    subjects = [cls(capacity) for cls in rings]
    for ring in subjects:
        assert ring.capacity == capacity, (ring, capacity)
    for step, (name, arg) in enumerate(ops):
        where = f"step {step} {name}({arg!r})"
        if name == "write":
            kind, n, offset = arg  # type: ignore[misc]
            obj, raw = _payload(kind, n, offset)
            model += raw
            for ring in subjects:
                assert _outcome(lambda: ring.write(obj)) == (None, None), where
        elif name == "bad":
            obj, expected_exc = _bad_payload(arg)  # type: ignore[arg-type]
            for ring in subjects:
                assert _outcome(lambda: ring.write(obj)) == (None, expected_exc), where
        elif name in ("read", "peek"):
            n = arg
            take = len(model) if n < 0 or n > len(model) else n  # type: ignore[operator]
            expected = bytes(model[:take])
            if name == "read":
                del model[:take]
            for ring in subjects:
                got = _outcome(lambda: getattr(ring, name)(n))
                assert got == (expected, None), (where, got[1], len(got[0] or b""), take)
        elif name == "advance":
            n = arg
            if 0 <= n <= len(model):  # type: ignore[operator]
                del model[:n]
                expected_exc = None
            else:
                expected_exc = ValueError
            for ring in subjects:
                assert _outcome(lambda: ring.advance(n)) == (None, expected_exc), where
        else:
            model.clear()
            for ring in subjects:
                ring.clear()
        for ring in subjects:
            assert len(ring) == len(model), (where, len(ring), len(model))
            assert bool(ring) == bool(model), where
            assert ring.capacity >= len(ring), (where, ring.capacity, len(ring))
        # The twin follows the compiled ring's growth and shrink policy exactly.
        caps = {ring.capacity for ring in subjects}
        assert len(caps) == 1, (where, [(type(r).__module__, r.capacity) for r in subjects])
    for ring in subjects:
        assert ring.peek() == bytes(model)
        assert ring.read() == bytes(model)
        assert len(ring) == 0
    return len(ops)
