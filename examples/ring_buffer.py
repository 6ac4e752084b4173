"""RingBuffer on its own: splitting a byte stream into lines.

Data arrives in chunks that do not respect line boundaries (as ``recv()``
gives it). A ``pcp.RingBuffer`` collects the chunks, ``peek`` looks for the
end of a line without consuming, ``read`` takes a whole line off the front.
"""

from typing import Iterable, Iterator

import pcp


def lines(chunks: Iterable[bytes], max_line: int = 1 << 16) -> Iterator[bytes]:
    """Yield each complete line (without its b"\\n") from a stream of chunks."""
    buf = pcp.RingBuffer(4096)
    for chunk in chunks:
        buf.write(chunk)
        while True:
            pending = buf.peek(max_line + 1)  # a copy of the front, nothing removed
            end = pending.find(b"\n")
            if end < 0:
                if len(pending) > max_line:
                    raise ValueError(f"line longer than {max_line} bytes")
                break
            yield buf.read(end + 1)[:-1]  # remove the line and its newline
    if buf:
        raise ValueError(f"stream ended inside a line: {buf.read()!r}")


text = b"".join(b"line %d: %s\n" % (i, b"=" * (i % 50)) for i in range(2000))
# Chunks of 1 to 97 bytes: lines arrive split, and the ring wraps and grows.
chunks = []
offset = 0
while offset < len(text):
    size = 1 + (len(chunks) * 31) % 97
    chunks.append(text[offset : offset + size])
    offset += size

got = list(lines(chunks))
assert got == text.split(b"\n")[:-1], "lines differ"
print(f"{len(got)} lines from {len(chunks)} chunks; first {got[0]!r}, last {got[-1]!r}")

buf = pcp.RingBuffer(16)
buf.write(b"0123456789")
assert buf.read(4) == b"0123"   # consume from the front
buf.write(bytearray(b"abcdefghij"))  # any bytes-like object; this one wraps around
assert buf.peek() == b"456789abcdefghij" and len(buf) == 16
buf.advance(6)                  # drop without copying
assert buf.read() == b"abcdefghij" and not buf
try:
    buf.write("text")           # str is not bytes: refused, buffer unchanged
except TypeError as e:
    print(f"refused: {e}")
print(f"capacity {buf.capacity} bytes")
