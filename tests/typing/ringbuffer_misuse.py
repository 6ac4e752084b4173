"""Mistakes with pcp.RingBuffer that the types catch: each line whose comment starts with ``error:``
must be reported by mypy --strict and by pyright (strict), and no other line.
"""

# pyright: strict

from __future__ import annotations

import pcp

ring = pcp.RingBuffer("4096")  # error: the capacity is a number of bytes
ring.write("text")  # error: str is not a bytes-like object
ring.write(None)  # error: nor is None
ring.write(64)  # error: nor is an int
ring.read("all")  # error: n is an integer
ring.capacity = 1 << 20  # error: capacity is read-only
data: str = ring.read()  # error: read gives bytes


class Mine(pcp.RingBuffer):  # error: RingBuffer is final (both implementations refuse subclasses)
    pass
