"""Decode fuzzer input into ByteQueue operations and check them against a model.

Shared by the atheris target (``fuzz/fuzz_queue.py``) and the regression test
(``tests/test_fuzz_regressions.py``). ByteQueue (``pcp._queue``, compiled, and
``pcp._queue_py``, its twin) holds the proxies' bytes: small writes are copied
into an open block (a bytes object grown in place) that ``peek`` hands over
itself; large exact bytes are kept by reference. The model is a ``bytes``
value; every queue under test must agree with it after every operation, and
the queues must agree with each other on every result and on every exception
(type and message).

Also checked: ``peek`` returns exact bytes; ``as_bytes`` of exact bytes is the
object itself; bytes once returned by ``peek`` never change afterwards (the
queue hands over its own storage and must never write into it again); later
changes to an appended bytearray change nothing held.

Input format, a byte stream read front to back (missing bytes read as 0):
each operation is an opcode byte followed by its arguments.
"""

from __future__ import annotations

import array
from typing import Any, Callable, List, Optional, Sequence, Tuple

from ring_ops import _BLOCK, _Reader, _amount, _bad_payload

__all__ = ["decode", "run"]

_LARGE_MAX = 20000  # large appends stay around the by-reference threshold (4096)


class BytesSub(bytes):
    """Not exact bytes: a queue copies it like any other buffer."""


def _payload(kind: int, n: int, offset: int) -> Tuple[Any, bytes]:
    """A bytes-like object of type *kind* holding *n* bytes; and those bytes."""
    raw = _BLOCK[offset : offset + n]
    if kind in (0, 1):
        # Exact bytes, distinct objects (a slice of an exact bytes of full
        # length is the object itself; a join is always new).
        return b"".join([raw]), raw
    if kind == 2:
        return bytearray(raw), raw
    if kind == 3:
        return memoryview(raw), raw
    if kind == 4:
        big = bytearray(b"\xee" * 3 + raw + b"\xdd" * 5)
        return memoryview(big)[3 : 3 + n], raw
    if kind == 5:
        return array.array("B", raw), raw
    return BytesSub(raw), raw


def decode(data: bytes) -> List[Tuple[str, object]]:
    """Turn fuzzer input into operations ``(name, argument)``.

    ``("append", (kind, n, offset))``, ``("bad", (method, kind))``,
    ``("peek", None)``, ``("consume", n)``, ``("push", (n, offset, start,
    reserve))``, ``("measure", (kind, n, offset))``, ``("as_bytes", (kind, n,
    offset))``, ``("mutate", None)``. Counts for consume depend on how much the
    model holds, so decoding tracks the model's length as it goes.
    """
    r = _Reader(data)
    ops: List[Tuple[str, object]] = []
    held = 0
    while r.more():
        code = r.byte() % 13
        if code in (0, 1, 2):
            arg = (r.byte() % 7, r.byte(), r.u16())
            ops.append(("append", arg))
            held += arg[1]
        elif code == 3:
            arg = (r.byte() % 7, r.u16() % _LARGE_MAX, r.u16())
            ops.append(("append", arg))
            held += arg[1]
        elif code == 4:
            ops.append(("append", (r.byte() % 7, 0, 0)))
        elif code == 5:
            ops.append(("bad", (r.byte() % 3, r.byte() % 5)))
        elif code in (6, 7):
            ops.append(("peek", None))
        elif code in (8, 9):
            n = _amount(r, held)
            ops.append(("consume", n))
            if 0 <= n <= held:
                held -= n
        elif code == 10:
            flags = r.byte()
            n = r.byte() if flags & 1 else r.u16() % _LARGE_MAX
            b = r.byte()
            start = n if b == 255 else (n + 1 + r.byte() if b == 254 else b * n // 253)
            ops.append(("push", (n, r.u16(), start, bool(flags & 2))))
            held += max(0, n - start)
        elif code == 11:
            which = "measure" if r.byte() & 1 else "as_bytes"
            ops.append((which, (r.byte() % 7, r.byte(), r.u16())))
        else:
            ops.append(("mutate", None))
    return ops


def _outcome(call: Callable[[], object], result: bool = True) -> Tuple[object, Optional[Tuple[type, str]]]:
    # result=False: only the exception counts (consume and push_front return
    # 0 compiled, None in the twin; nobody reads it).
    try:
        value = call()
        return (value if result else None), None
    except (TypeError, ValueError, BufferError, MemoryError) as exc:
        return None, (type(exc), str(exc))


def run(data: bytes, queues: Sequence[type]) -> int:
    """Replay *data* on one queue of each class in *queues* and on the model.

    Raises AssertionError on the first disagreement. Returns the number of
    operations run.
    """
    ops = decode(data)
    model = b""
    subjects = [cls() for cls in queues]
    handed: List[Tuple[bytes, bytes]] = []  # (object a peek returned, a copy of its value)
    mutable: List[bytearray] = []  # bytearrays appended: a later change must not show
    for step, (name, arg) in enumerate(ops):
        where = f"step {step} {name}({arg!r})"
        outcomes = []
        if name == "append":
            kind, n, offset = arg  # type: ignore[misc]
            for q in subjects:
                obj, raw = _payload(kind, n, offset)
                if isinstance(obj, bytearray):
                    mutable.append(obj)
                outcomes.append(_outcome(lambda: q.append(obj)))
            model += raw
            assert outcomes[0] == (len(raw), None), (where, outcomes[0])
        elif name == "bad":
            method, kind = arg  # type: ignore[misc]
            obj, expected_exc = _bad_payload(kind)
            for q in subjects:
                outcomes.append(_outcome(lambda: getattr(q, ("append", "measure", "as_bytes")[method])(obj)))
            assert outcomes[0][1] is not None and outcomes[0][1][0] is expected_exc, (where, outcomes[0])
        elif name == "peek":
            for q in subjects:
                got = q.peek()
                assert type(got) is bytes, (where, type(got))
                handed.append((got, bytes(bytearray(got))))
                outcomes.append((got, None))
            assert outcomes[0] == (model, None), (where, len(outcomes[0][0]), len(model))  # type: ignore[arg-type]
        elif name == "consume":
            n = arg
            for q in subjects:
                outcomes.append(_outcome(lambda: q.consume(n), False))
            if 0 <= n <= len(model):  # type: ignore[operator]
                model = model[n:]  # type: ignore[misc]
                assert outcomes[0][1] is None, (where, outcomes[0])
            else:
                assert outcomes[0][1] is not None and outcomes[0][1][0] is ValueError, (where, outcomes[0])
        elif name == "push":
            n, offset, start, reserve = arg  # type: ignore[misc]
            payload = b"".join([_BLOCK[offset : offset + n]])
            for q in subjects:
                if reserve:
                    assert _outcome(q.reserve_front, False) == (None, None), where
                outcomes.append(_outcome(lambda: q.push_front(payload, start), False))
            model = payload[start:] + model
        elif name in ("measure", "as_bytes"):
            kind, n, offset = arg  # type: ignore[misc]
            for q in subjects:
                obj, raw = _payload(kind, n, offset)
                got = _outcome(lambda: getattr(q, name)(obj))
                if name == "as_bytes":
                    assert got[1] is None and type(got[0]) is bytes and got[0] == raw, (where, got)
                    assert (got[0] is obj) == (type(obj) is bytes), (where, type(obj))
                outcomes.append(got)
            if name == "measure":
                assert outcomes[0] == (len(raw), None), (where, outcomes[0])
        else:
            for b in mutable:
                b[:] = b"\xa5" * len(b)
            mutable.clear()
        # The implementations agree with each other on every result and exception.
        for other in outcomes[1:]:
            assert other == outcomes[0], (where, other, outcomes[0])
        for q in subjects:
            assert len(q) == q.size == len(model), (where, type(q).__module__, len(q), q.size, len(model))
        for got, value in handed[-8:]:
            assert got == value, (where, "bytes returned by an earlier peek changed")
    for got, value in handed:
        assert got == value, "bytes returned by an earlier peek changed"
    for q in subjects:
        assert q.peek() == model
        q.consume(len(model))
        assert len(q) == 0 and q.peek() == b""
    return len(ops)
