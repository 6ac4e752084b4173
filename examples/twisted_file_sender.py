"""Twisted: serve a file with FileSender through a ProducerConsumerProxy.

``twisted.protocols.basic.FileSender`` is a pull producer: it writes one block
each time it is asked. A streaming ``pcp.ProducerConsumerProxy`` registered
with the transport pulls it, in a loop, while the transport wants data, and
stops pulling when the transport pauses it, so the file is read no faster than
the connection sends it. At end of file FileSender unregisters; the proxy
passes that on to the transport once its buffer has drained.

The program writes a 16 MiB temporary file, serves it on 127.0.0.1 to a
client that reads slowly, and checks what arrived against the file's sha256.
"""

import hashlib
import os
import tempfile
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.protocols.basic import FileSender

from pcp import ProducerConsumerProxy

MiB = 1 << 20


class ServeFile(protocol.Protocol):
    """The server side: sends the factory's file, then closes."""

    def connectionMade(self) -> None:
        self.proxy = ProducerConsumerProxy(self.transport)  # registers with the transport
        self.file = open(self.factory.path, "rb")
        d = FileSender().beginFileTransfer(self.file, self.proxy)
        d.addCallback(self.sent)

    def sent(self, lastByte: bytes) -> None:
        self.file.close()
        self.transport.loseConnection()  # after what the proxy buffered is written
        self.factory.proxies.append(self.proxy)


class SlowReader(protocol.Protocol):
    """The client side: hashes what arrives, stops reading for 20 ms after each MiB."""

    def connectionMade(self) -> None:
        self.sha = hashlib.sha256()
        self.received = 0

    def dataReceived(self, data: bytes) -> None:
        before = self.received
        self.sha.update(data)
        self.received += len(data)
        if self.received // MiB > before // MiB:
            self.transport.pauseProducing()
            self.factory.reactor.callLater(0.02, self.transport.resumeProducing)

    def connectionLost(self, reason: Any) -> None:
        self.factory.finished.callback(self)


async def main(reactor: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "payload.bin")
        with open(path, "wb") as f:
            for block in range(16):
                f.write(hashlib.sha256(b"%d" % block).digest() * (MiB // 32))
        with open(path, "rb") as f:
            expected = hashlib.sha256(f.read()).digest()

        server = protocol.ServerFactory.forProtocol(ServeFile)
        server.path, server.proxies = path, []
        port = reactor.listenTCP(0, server, interface="127.0.0.1")

        client = protocol.ClientFactory.forProtocol(SlowReader)
        client.reactor, client.finished = reactor, defer.Deferred()
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        reader = await client.finished.addTimeout(60, reactor)
        await port.stopListening()

    proxy = server.proxies[0]
    print(
        f"received {reader.received} bytes, sha256 matches the file: "
        f"{reader.sha.digest() == expected}; peak buffered in the proxy "
        f"{proxy.peakBufferedBytes} bytes (bufferSize {proxy.bufferSize})"
    )
    assert reader.received == 16 * MiB and reader.sha.digest() == expected
    assert proxy.peakBufferedBytes <= proxy.bufferSize + FileSender.CHUNK_SIZE


if __name__ == "__main__":
    task.react(main)
