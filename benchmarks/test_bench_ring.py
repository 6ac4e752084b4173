"""RingBuffer speed, against Python's own containers measured in the same run.

Requirements (asserted by the last two tests, on the compiled ring):

* a 64-byte ``RingBuffer.write`` from Python costs at most ``list.append`` of
  the same object + 15 ns per call;
* 64 KiB writes read back in 1 MiB reads reach at least half the bandwidth of
  slice assignment into a preallocated ``bytearray`` and 1 MiB slices out of it.

The pure-Python twin is measured too, for information only.
Run: ``python -m pytest benchmarks/test_bench_ring.py``.
"""

import os
from itertools import repeat

import pytest

from pcp import _buffer_py

NO_EXTENSIONS = bool(os.environ.get("PCP_NO_EXTENSIONS"))

WRITES_PER_ROUND = 100_000
SMALL = b"x" * 64

CHUNK = 64 << 10
READ = 1 << 20
MIB_PER_ROUND = 16
# A bytearray source: slice assignment from bytes would first copy the bytes
# into a temporary bytearray, making the reference look slower than a memmove.
BULK = bytearray(range(256)) * (CHUNK // 256)

ROUNDS = 40

# Figures of this run, keyed by (measurement, subject): ns per call or GB/s.
_FIGURES = {}


def _ring_class(subject):
    if subject == "twin ring":
        return _buffer_py.RingBuffer
    if NO_EXTENSIONS:
        pytest.skip("PCP_NO_EXTENSIONS is set: the compiled ring is not measured")
    from pcp import _buffer  # a missing build fails here instead of measuring the twin

    return _buffer.RingBuffer


def _min_seconds_per_round(benchmark):
    """The fastest round, or None when pytest-benchmark did not measure (disabled)."""
    if not benchmark.stats:
        return None
    return benchmark.stats.stats.min


# -- 64-byte writes vs list.append --------------------------------------------


def _append_loop(append, item=SMALL, n=WRITES_PER_ROUND):
    for _ in repeat(None, n):
        append(item)


def _small_writes_subject(subject):
    """(timed function, untimed reset) for one subject of the 64-byte measurement."""
    if subject == "list.append":
        items = []
        return (lambda: _append_loop(items.append)), items.clear
    ring = _ring_class(subject)()
    _append_loop(ring.write)           # grow once; advance() then keeps the capacity
    ring.advance(len(ring))

    def drain():
        ring.advance(len(ring))

    return (lambda: _append_loop(ring.write)), drain


@pytest.mark.parametrize("subject", ["list.append", "compiled ring", "twin ring"])
def test_small_writes(benchmark, subject):
    run, reset = _small_writes_subject(subject)
    benchmark.group = "64-byte writes, 100k per round"
    benchmark.pedantic(run, setup=reset, rounds=ROUNDS, warmup_rounds=2, iterations=1)
    seconds = _min_seconds_per_round(benchmark)
    if seconds is not None:
        ns = seconds / WRITES_PER_ROUND * 1e9
        benchmark.extra_info["ns_per_call"] = round(ns, 2)
        _FIGURES["small", subject] = ns


# -- bulk: 64 KiB writes, 1 MiB reads vs bytearray slices ---------------------


def _ring_bulk(ring):
    write, read = ring.write, ring.read
    for _ in range(MIB_PER_ROUND):
        for _ in range(READ // CHUNK):
            write(BULK)
        read(READ)


def _bytearray_bulk(block):
    for _ in range(MIB_PER_ROUND):
        for offset in range(0, READ, CHUNK):
            block[offset : offset + CHUNK] = BULK
        block[0:READ]


def _bulk_subject(subject):
    if subject == "bytearray":
        block = bytearray(READ)
        return lambda: _bytearray_bulk(block)
    ring = _ring_class(subject)()
    return lambda: _ring_bulk(ring)


@pytest.mark.parametrize("subject", ["bytearray", "compiled ring", "twin ring"])
def test_bulk_transfer(benchmark, subject):
    run = _bulk_subject(subject)
    benchmark.group = "64 KiB writes, 1 MiB reads, 16 MiB per round"
    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=2, iterations=1)
    seconds = _min_seconds_per_round(benchmark)
    if seconds is not None:
        gbps = MIB_PER_ROUND * READ / seconds / 1e9
        benchmark.extra_info["GB_per_s"] = round(gbps, 3)
        _FIGURES["bulk", subject] = gbps


# -- the requirements, on figures of this same run ----------------------------


def _figures(*keys):
    missing = [key for key in keys if key not in _FIGURES]
    if missing:
        pytest.skip(f"not measured in this run: {missing}")
    return [_FIGURES[key] for key in keys]


def test_write_costs_at_most_list_append_plus_15ns():
    ring, listed = _figures(("small", "compiled ring"), ("small", "list.append"))
    twin = _FIGURES.get(("small", "twin ring"))
    print(
        f"\n64-byte write: compiled ring {ring:.1f} ns, list.append {listed:.1f} ns, "
        f"difference {ring - listed:+.1f} ns"
        + (f"; twin ring {twin:.1f} ns" if twin else "")
    )
    assert ring <= listed + 15, (
        f"RingBuffer.write {ring:.1f} ns > list.append {listed:.1f} ns + 15 ns"
    )


def test_bulk_bandwidth_at_least_half_of_bytearray():
    ring, block = _figures(("bulk", "compiled ring"), ("bulk", "bytearray"))
    twin = _FIGURES.get(("bulk", "twin ring"))
    print(
        f"\nbulk: compiled ring {ring:.2f} GB/s, bytearray {block:.2f} GB/s, "
        f"ratio {ring / block:.2f}"
        + (f"; twin ring {twin:.2f} GB/s ({twin / block:.2f})" if twin else "")
    )
    assert ring >= 0.5 * block, (
        f"RingBuffer {ring:.2f} GB/s < half of bytearray {block:.2f} GB/s"
    )
