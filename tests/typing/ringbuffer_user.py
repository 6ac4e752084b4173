"""How a typed application uses pcp.RingBuffer; checked by mypy --strict and pyright (strict).

tests/test_typing.py type-checks this file (it must be clean) and runs it.
"""

# pyright: strict

from __future__ import annotations

import array
import mmap

from typing_extensions import assert_type

import pcp

ring = pcp.RingBuffer()
sized = pcp.RingBuffer(1 << 16)
assert_type(sized.capacity, int)

# Any bytes-like object is accepted by write.
ring.write(b"head")
ring.write(bytearray(b"-"))
ring.write(memoryview(b"body"))
ring.write(array.array("B", [33]))
with mmap.mmap(-1, 4) as mapped:
    mapped.write(b"tail")
    ring.write(mapped)

assert_type(len(ring), int)
assert_type(bool(ring), bool)
first: bytes = ring.peek(4)
assert_type(ring.read(4), bytes)
ring.advance(1)
rest = ring.read()
assert_type(rest, bytes)
assert first == b"head" and rest == b"body!tail", (first, rest)
ring.clear()
assert not ring
