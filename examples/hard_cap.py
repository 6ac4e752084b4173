"""A hard cap: ``maxBufferSize`` bounds memory even when the producer ignores pauses.

``bufferSize`` asks the producer to pause; a producer that keeps writing
anyway (a buggy one, or a protocol that cannot stop) would grow the buffer
without end. ``maxBufferSize`` refuses the write that would cross it with
``pcp.BufferFull``: nothing of that write is buffered, and everything accepted
before it still reaches the consumer, in order.
"""

from typing import List

import pcp


class Consumer:
    """Stands in for a transport: records what it receives."""

    def __init__(self) -> None:
        self.received: List[bytes] = []

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.received.append(data)


class StubbornProducer:
    """A push producer that is told to pause and does not."""

    def pauseProducing(self) -> None:
        print("asked to pause (and ignoring it)")

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


consumer = Consumer()
proxy = pcp.ProducerConsumerProxy(consumer)
proxy.bufferSize = 4096        # pause the producer here...
proxy.maxBufferSize = 16384    # ...and refuse writes past here (off by default)
proxy.registerProducer(StubbornProducer(), True)
proxy.pauseProducing()         # the consumer is full: everything is buffered

accepted = []
for n in range(100):
    data = n.to_bytes(2, "big") * 500  # 1000 bytes, numbered
    try:
        proxy.write(data)
    except pcp.BufferFull as e:
        print(f"write {n} refused: {e}")
        break
    accepted.append(data)

print(f"accepted {len(accepted)} writes, {proxy.bufferedBytes} bytes buffered")
assert proxy.bufferedBytes == len(accepted) * 1000 <= proxy.maxBufferSize

proxy.resumeProducing()        # the consumer drains: what was accepted goes out, in order
assert b"".join(consumer.received) == b"".join(accepted)
print(f"consumer received {proxy.bytesSent} bytes, all accepted, in order")
