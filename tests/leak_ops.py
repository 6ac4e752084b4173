"""Leak probe, run in a subprocess by tests/test_leaks.py: many mixed operations, then a report.

    python tests/leak_ops.py OPS            (PCP_NO_EXTENSIONS=1 for the twin)

Runs at least OPS operations on pcp's proxies and RingBuffer, in rounds that
cover: writes of every accepted type (bytes small and large, bytearray,
memoryview, a window into a bytearray, array.array, empty), writes refused
with TypeError, BufferError and BufferFull, pass-through and buffered writes,
partial flushes through ``_writeSomeData``, producer pauses and resumes at the
marks, growth of the buffer to hundreds of KiB and its shrinking back,
writes after stopProducing (discarded), pull proxies, proxies dropped with
data still buffered, and RingBuffer write/read/peek/advance/clear.

Prints one JSON object: the implementation, operations run, resident memory
(bytes) after the warm-up and at checkpoints, and the reference counts of
every written object before and after.
"""

from __future__ import annotations

import array
import gc
import json
import os
import sys

import pcp

PAGE = os.sysconf("SC_PAGE_SIZE")
# tests/test_leaks.py checks that the probe can fail: "keep-data" makes the
# consumer keep what it is sent, "keep-objects" keeps the written objects.
SELFTEST = os.environ.get("PCP_LEAK_PROBE_SELFTEST", "")
KEPT: list = []


def rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Sink:
    """A consumer that counts what it gets."""

    def __init__(self) -> None:
        self.n = 0

    def registerProducer(self, producer, streaming) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data) -> None:
        self.n += len(data)
        if SELFTEST == "keep-data":
            KEPT.append(data)


class Producer:
    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class Partial(pcp.ProducerConsumerProxy):
    """A consumer that takes at most ``take`` bytes per write."""

    take = 700

    def _writeSomeData(self, data) -> int:
        n = min(self.take, len(data))
        self.consumer.n += n
        return n


class PullProxy(pcp.ProducerConsumerProxy):
    iAmStreaming = False


ACCEPTED = {
    "small bytes": b"s" * 100,
    "large bytes": b"L" * 8192,  # queued by reference in the compiled core
    "bytearray": bytearray(b"a" * 300),
    "memoryview": memoryview(b"m" * 500),
    "window": memoryview(bytearray(b"w" * 1000))[100:600],
    "array": array.array("i", range(64)),
    "empty": bytearray(),
    "empty bytes": b"",
}
HUGE = bytearray(b"H" * 200_000)  # copied into the ring: grows it
REFUSED = {
    "str": "".join(["te", "xt"]),
    "None": None,
    "int": 10**30,
    "strided": memoryview(b"abcdefgh")[::2],  # BufferError
}
# Shared singletons: their reference counts move with the rest of the program.
SINGLETONS = {"empty bytes", "None"}
OBJECTS = {name: obj for name, obj in {**ACCEPTED, "huge": HUGE, **REFUSED}.items()
           if name not in SINGLETONS}
ACCEPTED_LIST = list(ACCEPTED.values())


def new_proxies():
    streaming = pcp.ProducerConsumerProxy(Sink())
    streaming.bufferSize, streaming.lowWater, streaming.maxBufferSize = 65536, 16384, 1 << 20
    streaming.registerProducer(Producer(), True)
    partial = Partial(Sink())
    partial.bufferSize = 4096
    partial.registerProducer(Producer(), True)
    basic = pcp.BasicProducerConsumerProxy(Sink())
    basic.registerProducer(Producer(), True)
    pull = PullProxy(Sink())
    return streaming, partial, basic, pull


CAPACITY = [0]  # the largest the standalone ring grew to


def one_round(proxies, ring, round_no: int) -> int:
    """One round of mixed operations; returns how many it ran."""
    streaming, partial, basic, pull = proxies
    ops = 0
    if SELFTEST == "keep-objects":
        KEPT.extend(ACCEPTED_LIST)
    # Pass-through writes of every accepted type.
    for proxy in (streaming, basic):
        for obj in ACCEPTED_LIST:
            proxy.write(obj)
        ops += len(ACCEPTED_LIST)
    # Buffered writes past the high-water mark, then into the cap.
    streaming.pauseProducing()
    for _ in range(12):
        for obj in ACCEPTED_LIST:
            streaming.write(obj)
    ops += 1 + 12 * len(ACCEPTED_LIST)
    if round_no % 8 == 0:
        streaming.write(HUGE)  # grows the ring; the next small fill lets it shrink
        while True:
            ops += 1
            try:
                streaming.write(HUGE)
            except pcp.BufferFull:
                break
    for obj in REFUSED.values():
        for proxy in (streaming, basic, ring):
            ops += 1
            try:
                proxy.write(obj)
            except (TypeError, BufferError):
                pass
            else:
                raise AssertionError(f"{obj!r} was accepted")
    streaming.resumeProducing()
    ops += 1
    assert streaming.bufferedBytes == 0
    # Partial flushes.
    partial.take = 1 + round_no % 900
    for obj in ACCEPTED_LIST:
        partial.write(obj)
        partial.write(obj)
        partial.resumeProducing()
    ops += 3 * len(ACCEPTED_LIST)
    partial.take = 1 << 30
    partial.resumeProducing()
    ops += 1
    # The Basic proxy paused (relayed) and resumed.
    basic.pauseProducing()
    for obj in ACCEPTED_LIST:
        basic.write(obj)
    basic.resumeProducing()
    ops += 2 + len(ACCEPTED_LIST)
    # A pull proxy: buffered until pulled, one write per pull.
    for obj in ACCEPTED_LIST:
        pull.write(obj)
        pull.resumeProducing()
    ops += 2 * len(ACCEPTED_LIST)
    # The ring on its own.
    for obj in ACCEPTED_LIST:
        ring.write(obj)
    ring.peek(50)
    ring.read(333)
    ring.advance(min(100, len(ring)))
    ops += len(ACCEPTED_LIST) + 3
    if round_no % 4 == 0:
        ring.write(HUGE)
        CAPACITY[0] = max(CAPACITY[0], ring.capacity)
        ring.read(len(ring) // 2)
        ring.clear()
        ops += 3
    else:
        ring.read()
        ops += 1
    return ops


def stopped_proxy_round() -> int:
    """A proxy stopped with data buffered; later writes are discarded; then it is dropped."""
    proxy = pcp.ProducerConsumerProxy(Sink())
    proxy.registerProducer(Producer(), True)
    proxy.pauseProducing()
    for obj in ACCEPTED_LIST:
        proxy.write(obj)
    proxy.stopProducing()
    for obj in ACCEPTED_LIST:
        proxy.write(obj)
    assert proxy.bytesDiscarded > 0
    return 2 * len(ACCEPTED_LIST) + 3


def main() -> None:
    target = int(sys.argv[1])
    gc.collect()
    refcounts_before = {name: sys.getrefcount(obj) for name, obj in OBJECTS.items()}
    objects_before = len(gc.get_objects())
    ring = pcp.RingBuffer(1024)
    proxies = new_proxies()
    ops = 0
    round_no = 0
    warmup = target // 10
    samples = []
    next_sample = warmup
    while ops < target:
        ops += one_round(proxies, ring, round_no)
        round_no += 1
        if round_no % 50 == 0:
            ops += stopped_proxy_round()
            proxies = new_proxies()  # the old ones are dropped, some with data buffered
        if ops >= next_sample:
            gc.collect()
            samples.append((ops, rss()))
            next_sample += (target - warmup) // 8
    final_capacity = ring.capacity
    del proxies, ring
    gc.collect()
    refcounts_after = {name: sys.getrefcount(obj) for name, obj in OBJECTS.items()}
    objects_after = len(gc.get_objects())
    print(json.dumps({
        "extensions": pcp.EXTENSIONS,
        "ops": ops,
        "rounds": round_no,
        "rss": samples,
        "refcounts_before": refcounts_before,
        "refcounts_after": refcounts_after,
        "gc_objects": [objects_before, objects_after],
        "ring_capacity": [1024, CAPACITY[0], final_capacity],
    }))


if __name__ == "__main__":
    main()
