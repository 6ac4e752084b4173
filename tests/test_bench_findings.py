"""Proxy behaviour the benchmarks exposed (workload 4 of ``pcp.bench``: partial writes)."""


def test_pull_proxy_with_partial_writes_stays_bounded(impl):
    chunk = b"x" * 65536

    class Consumer:
        def registerProducer(self, producer, streaming):
            pass

        def write(self, data):
            pass

    class PullProducer:
        pulls = 0

        def resumeProducing(self):
            self.pulls += 1
            proxy.write(chunk)

        def stopProducing(self):
            pass

    class PartialPullProxy(impl.ProducerConsumerProxy):
        iAmStreaming = False

        def _writeSomeData(self, data):
            return min(len(data), 16384)

    proxy = PartialPullProxy(Consumer())
    producer = PullProducer()
    proxy.registerProducer(producer, False)
    for _ in range(100):
        proxy.resumeProducing()
    # Twisted's proxy (on str) ends this with 25 pulls and an empty buffer.
    assert proxy.bytesSent == 100 * 16384
    assert proxy.peakBufferedBytes <= proxy.bufferSize + len(chunk)
