"""Quick start: a pcp proxy between a producer and a consumer.

No event loop and no network: the consumer and the producer are two small
classes standing in for a transport and a data source, so every step of the
flow-control model can be watched. Run it with ``python examples/quickstart.py``.
"""

from typing import List, Optional

import pcp


class Consumer:
    """Stands in for a transport: records what it receives."""

    def __init__(self) -> None:
        self.received: List[bytes] = []
        self.producer: Optional[object] = None

    def registerProducer(self, producer: object, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.received.append(data)


class Producer:
    """Stands in for a data source: a push producer that can be paused."""

    def __init__(self) -> None:
        self.paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


consumer = Consumer()
proxy = pcp.ProducerConsumerProxy(consumer)  # registers itself with the consumer
proxy.bufferSize = 1024                      # high-water mark: pause the producer here
proxy.lowWater = 256                         # low-water mark: resume it here
producer = Producer()
proxy.registerProducer(producer, True)       # True: a push (streaming) producer

# 1. The consumer wants data: a write goes straight through, nothing is buffered.
proxy.write(b"hello")
assert consumer.received == [b"hello"] and proxy.bufferedBytes == 0

# 2. The consumer is full (a transport calls this when its send buffer is full):
#    writes are buffered, and at the high-water mark the producer is paused, once.
proxy.pauseProducing()
chunk = b"x" * 100
while not producer.paused:
    proxy.write(chunk)
print(f"buffered {proxy.bufferedBytes} bytes, producer paused {proxy.producerPauses} time(s)")
assert proxy.bufferedBytes >= proxy.bufferSize and proxy.producerPauses == 1

# 3. The consumer has room again: everything buffered goes out as one write,
#    and the buffer is below the low-water mark, so the producer is resumed.
proxy.resumeProducing()
assert consumer.received[-1] == chunk * 11 and not producer.paused

# 4. The producer is done: the consumer is told once the buffer has drained.
proxy.unregisterProducer()
assert consumer.producer is None

print(
    f"received {proxy.bytesReceived} bytes, sent {proxy.bytesSent}, "
    f"peak buffered {proxy.peakBufferedBytes}, implementation "
    f"{'compiled' if pcp.EXTENSIONS else 'pure Python'}"
)
assert b"".join(consumer.received) == b"hello" + chunk * 11
