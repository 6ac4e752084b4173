"""Twisted's own tests of twisted.protocols.pcp (twisted/test/test_pcp.py), ported.

Every test of test_pcp.py is here, on bytes, for both implementations (the
``impl`` fixture) and, where Twisted runs a test case against both proxy
classes, for both classes. Test names keep Twisted's class and method names.

Deviations from Twisted, each marked where it happens:
- Twisted's DummyConsumer starts with ``unregistered = True``, which makes
  ConsumerProxyTests.testUnregister vacuous; ours starts False.
- Where Twisted looks at ``proxy._buffer``, we check the public
  ``bufferedBytes`` and what a later resume sends.
- BufferedConsumerTests.testRegisterPull registers a second producer without
  unregistering the first; pcp raises RuntimeError there (as Twisted's
  IConsumer documents), so the port unregisters first, and a separate test
  checks the RuntimeError.
- A few assertions are added where Twisted only checked that nothing raised.
"""

from __future__ import annotations

import pytest

from dummies import DummyConsumer, DummyProducer


@pytest.fixture(params=["BasicProducerConsumerProxy", "ProducerConsumerProxy"])
def proxyClass(request, impl):
    """Each proxy class of the implementation under test, as Twisted's PCP_/PCPII_ pairs."""
    return getattr(impl, request.param)


@pytest.fixture(params=["BasicProducerConsumerProxy", "ProducerConsumerProxy"])
def pullProxyClass(request, impl):
    """A pull (``iAmStreaming = False``) subclass of each proxy class."""
    base = getattr(impl, request.param)

    class proxyClass(base):
        iAmStreaming = False

    return proxyClass


# -- TransportInterfaceTests -------------------------------------------------------


def test_TransportInterfaceTests_testWrite(impl):
    underlying = DummyConsumer()
    transport = impl.BasicProducerConsumerProxy(underlying)
    transport.write(b"some bytes")
    # Twisted only checks that this does not raise.
    assert underlying.getvalue() == b"some bytes"


# -- ConsumerInterfaceTest (PCP_ and PCPII_) ------------------------------------------


class TestConsumerInterface:
    """The proxy as a Consumer, convincing a ProducingServer."""

    @pytest.fixture(autouse=True)
    def setUp(self, proxyClass):
        self.underlying = DummyConsumer()
        self.consumer = proxyClass(self.underlying)
        self.producer = DummyProducer(self.consumer)

    def testRegisterPush(self):
        self.consumer.registerProducer(self.producer, True)
        # Consumer should NOT have called PushProducer.resumeProducing
        assert not self.producer.resumed

    def testUnregister(self):
        self.consumer.registerProducer(self.producer, False)
        self.consumer.unregisterProducer()
        # Now when the consumer would ordinarily want more data, it
        # shouldn't ask producer for it.
        self.producer.resumed = False
        self.consumer.resumeProducing()
        assert not self.producer.resumed

    def testFinish(self):
        self.consumer.registerProducer(self.producer, False)
        self.consumer.finish()
        self.producer.resumed = False
        self.consumer.resumeProducing()
        assert not self.producer.resumed
        # Added: finish reached the consumer, and so did the unregistration.
        assert self.underlying.finished
        assert self.underlying.unregistered


# -- ProducerInterfaceTest (PCP_ and PCPII_) ------------------------------------------


class TestProducerInterface:
    """The proxy as a Producer, convincing a ConsumingTransport."""

    @pytest.fixture(autouse=True)
    def setUp(self, proxyClass):
        self.consumer = DummyConsumer()
        self.producer = proxyClass(self.consumer)

    def testRegistersProducer(self):
        assert self.consumer.producer[0] is self.producer
        # Added: a streaming proxy registers as streaming.
        assert self.consumer.producer[1] is True

    def testPause(self):
        self.producer.pauseProducing()
        self.producer.write(b"yakkity yak")
        assert not self.consumer.getvalue(), "Paused producer should not have sent data."

    def testResume(self):
        self.producer.pauseProducing()
        self.producer.resumeProducing()
        self.producer.write(b"yakkity yak")
        assert self.consumer.getvalue() == b"yakkity yak"

    def testResumeNoEmptyWrite(self):
        self.producer.pauseProducing()
        self.producer.resumeProducing()
        assert len(self.consumer._writes) == 0, "Resume triggered an empty write."

    def testResumeBuffer(self):
        self.producer.pauseProducing()
        self.producer.write(b"buffer this")
        self.producer.resumeProducing()
        assert self.consumer.getvalue() == b"buffer this"

    def testStop(self):
        self.producer.stopProducing()
        self.producer.write(b"yakkity yak")
        assert not self.consumer.getvalue(), "Stopped producer should not have sent data."


# -- ProducerProxyTests ----------------------------------------------------------------


def test_ProducerProxyTests_testStop(impl):
    """Producer methods on the proxy are relayed to the producer it proxies."""
    proxy = impl.BasicProducerConsumerProxy(None)
    parentProducer = DummyProducer(proxy)
    proxy.registerProducer(parentProducer, True)
    proxy.stopProducing()
    assert parentProducer.stopped


# -- ConsumerProxyTests ----------------------------------------------------------------


class TestConsumerProxy:
    """Consumer methods on the proxy are relayed to the consumer it proxies."""

    @pytest.fixture(autouse=True)
    def setUp(self, impl):
        self.underlying = DummyConsumer()
        self.consumer = impl.BasicProducerConsumerProxy(self.underlying)

    def testWrite(self):
        # NOTE: This test only valid for streaming (Push) systems.
        self.consumer.write(b"some bytes")
        assert self.underlying.getvalue() == b"some bytes"

    def testFinish(self):
        self.consumer.finish()
        assert self.underlying.finished

    def testUnregister(self):
        # Deviation: our DummyConsumer starts unregistered=False (Twisted's starts True).
        assert not self.underlying.unregistered
        self.consumer.unregisterProducer()
        assert self.underlying.unregistered


# -- PullProducerTest (PCP_ and PCPII_) --------------------------------------------------


class TestPullProducer:
    """A pull proxy (iAmStreaming = False) sends only when its consumer pulls."""

    @pytest.fixture(autouse=True)
    def setUp(self, pullProxyClass):
        self.underlying = DummyConsumer()
        self.proxy = pullProxyClass(self.underlying)
        self.parentProducer = DummyProducer(self.proxy)
        self.proxy.registerProducer(self.parentProducer, True)

    def testHoldWrites(self):
        self.proxy.write(b"hello")
        # Consumer should get no data before it says resumeProducing.
        assert not self.underlying.getvalue(), "Pulling Consumer got data before it pulled."

    def testPull(self):
        self.proxy.write(b"hello")
        self.proxy.resumeProducing()
        assert self.underlying.getvalue() == b"hello"

    def testMergeWrites(self):
        self.proxy.write(b"hello ")
        self.proxy.write(b"sunshine")
        self.proxy.resumeProducing()
        nwrites = len(self.underlying._writes)
        assert nwrites == 1, f"Pull resulted in {nwrites} writes instead of 1."
        assert self.underlying.getvalue() == b"hello sunshine"

    def testLateWrite(self):
        # consumer sends its initial pull before we have data
        self.proxy.resumeProducing()
        self.proxy.write(b"data")
        # This data should answer that pull request.
        assert self.underlying.getvalue() == b"data"

    def test_registers_as_pull(self):
        # Added: a pull proxy registers with its consumer as a pull producer.
        assert self.underlying.producer == (self.proxy, False)


# -- BufferedConsumerTests ---------------------------------------------------------------


class TestBufferedConsumer:
    """As a consumer, the buffered proxy asks its producer to pause after too much data."""

    @pytest.fixture(autouse=True)
    def setUp(self, impl):
        self.underlying = DummyConsumer()
        self.proxy = impl.ProducerConsumerProxy(self.underlying)
        self.proxy.bufferSize = 100

        self.parentProducer = DummyProducer(self.proxy, "first")
        self.proxy.registerProducer(self.parentProducer, True)

    def testRegisterPull(self):
        # Deviation: Twisted registers a second time without unregistering.
        self.proxy.unregisterProducer()
        self.proxy.registerProducer(self.parentProducer, False)
        # Consumer SHOULD have called PullProducer.resumeProducing
        assert self.parentProducer.resumed

    def test_register_twice_raises(self):
        second = DummyProducer(self.proxy, "second")
        with pytest.raises(RuntimeError) as info:
            self.proxy.registerProducer(second, False)
        message = str(info.value)
        assert "<DummyProducer first>" in message
        assert "<DummyProducer second>" in message
        # The first registration stands, and the second producer was not pulled.
        assert self.proxy.producer is self.parentProducer
        assert self.proxy.producerIsStreaming is True
        assert not second.resumed

    def testPauseIntercept(self):
        self.proxy.pauseProducing()
        assert not self.parentProducer.paused

    def testResumeIntercept(self):
        self.proxy.pauseProducing()
        self.proxy.resumeProducing()
        # With a streaming producer, just because the proxy was resumed is
        # not necessarily a reason to resume the parent producer.  The state
        # of the buffer should decide that.
        assert not self.parentProducer.resumed

    def testTriggerPause(self):
        """Make sure I say "when." """
        # Pause the proxy so data sent to it builds up in its buffer.
        self.proxy.pauseProducing()
        assert not self.parentProducer.paused, "don't pause yet"
        self.proxy.write(b"x" * 51)
        assert not self.parentProducer.paused, "don't pause yet"
        self.proxy.write(b"x" * 51)
        assert self.parentProducer.paused

    def testTriggerResume(self):
        """Make sure I resumeProducing when my buffer empties."""
        self.proxy.pauseProducing()
        self.proxy.write(b"x" * 102)
        assert self.parentProducer.paused, "should be paused"
        self.proxy.resumeProducing()
        # Resuming should have emptied my buffer, so I should tell my
        # parent to resume too.
        assert not self.parentProducer.paused, "Producer should have resumed."
        assert not self.proxy.producerPaused
        # Added: and everything went out, in one write.
        assert self.underlying._writes == [b"x" * 102]


# -- BufferedPullTests ---------------------------------------------------------------------


class TestBufferedPull:
    """A buffered pull proxy whose consumer takes at most 100 bytes per write."""

    @pytest.fixture(autouse=True)
    def setUp(self, impl):
        base = impl.ProducerConsumerProxy

        class proxyClass(base):
            iAmStreaming = False

            def _writeSomeData(self, data):
                base._writeSomeData(self, data[:100])
                return min(len(data), 100)

        self.underlying = DummyConsumer()
        self.proxy = proxyClass(self.underlying)
        self.proxy.bufferSize = 100

        self.parentProducer = DummyProducer(self.proxy)
        self.proxy.registerProducer(self.parentProducer, False)

    def testResumePull(self):
        # If proxy has no data to send on resumeProducing, it had better pull
        # some from its PullProducer.
        self.parentProducer.resumed = False
        self.proxy.resumeProducing()
        assert self.parentProducer.resumed

    def testLateWriteBuffering(self):
        # consumer sends its initial pull before we have data
        self.proxy.resumeProducing()
        self.proxy.write(b"datum" * 21)
        # This data should answer that pull request.
        assert self.underlying.getvalue() == b"datum" * 20
        # but there should be some left over (Twisted: proxy._buffer == ["datum"])
        assert self.proxy.bufferedBytes == 5
        self.proxy.resumeProducing()
        assert self.underlying._writes == [b"datum" * 20, b"datum"]
        assert self.proxy.bufferedBytes == 0
