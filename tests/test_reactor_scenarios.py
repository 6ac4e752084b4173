"""pcp's proxies in a real Twisted reactor, over loopback TCP.

Each scenario runs in its own process (``reactor_scenarios.py``: a reactor
runs once per process) with the implementation under test selected by
PCP_NO_EXTENSIONS, and reports facts as JSON; the assertions are here. Every
scenario checks every byte (sha256 of what was sent against what arrived)
and that the proxy's buffer stayed within the high-water mark plus one
incoming chunk.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("twisted")

pytestmark = pytest.mark.twisted

SCENARIOS = Path(__file__).with_name("reactor_scenarios.py")
MiB = 1 << 20


def run_scenario(impl, name, *args, timeout=60):
    """Run scenario *name* in a subprocess on *impl*'s implementation; return its facts."""
    env = dict(os.environ)
    if impl.kind == "twin":
        env["PCP_NO_EXTENSIONS"] = "1"
    else:
        env.pop("PCP_NO_EXTENSIONS", None)
    proc = subprocess.run(
        [sys.executable, str(SCENARIOS), name, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout.splitlines()[-1])
    assert facts["extensions"] is (impl.kind == "compiled"), "the subprocess ran the other implementation"
    assert facts["errors"] == [], "errors were logged in the reactor"
    assert not facts["timedOut"], "the scenario did not finish in time"
    return facts


def assert_all_bytes_arrived(facts, sent_sha):
    sink = facts["sink"]
    assert sink["received"] == facts["total"]
    assert sink["receivedSha"] == sent_sha
    assert sink["lostReason"] == "ConnectionDone"


def test_push_producer_through_proxy_to_slow_reader(impl):
    facts = run_scenario(impl, "push")
    proxy, source = facts["proxy"], facts["source"]
    assert source["done"] and source["sent"] == facts["total"] == 32 * MiB
    assert_all_bytes_arrived(facts, source["sentSha"])
    assert facts["sink"]["readPauses"] > 0
    # Flow control, not luck: the proxy paused its producer and resumed it each time
    # (but perhaps the last, when the last write reached the mark).
    assert proxy["producerPauses"] > 0
    assert source["pauses"] == proxy["producerPauses"]
    assert source["pauses"] - source["resumes"] in (0, 1)
    assert proxy["peakBufferedBytes"] <= proxy["bufferSize"] + source["largestChunk"]
    assert proxy["bytesReceived"] == proxy["bytesSent"] == facts["total"]
    assert proxy["bufferedBytes"] == 0


def test_filesender_through_streaming_proxy(impl, tmp_path):
    facts = run_scenario(impl, "filesender", tmp_path)
    proxy = facts["proxy"]
    assert facts["fired"], "FileSender's Deferred did not fire"
    assert facts["lastSent"] == facts["lastByte"]
    assert_all_bytes_arrived(facts, facts["expectedSha"])
    assert proxy["bytesReceived"] == proxy["bytesSent"] == facts["total"]
    assert proxy["peakBufferedBytes"] <= proxy["bufferSize"] + facts["chunkSize"]
    # The transport did pause the proxy, and the file was not read far ahead of the reader.
    assert facts["pausedSamples"] > 0
    assert facts["maxInFlight"] < facts["total"] // 2


def test_forwarder_stops_reading_client_while_sink_is_slow(impl):
    facts = run_scenario(impl, "forward")
    proxy, source, checks = facts["proxy"], facts["source"], facts["readerChecks"]
    assert source["done"]
    assert_all_bytes_arrived(facts, source["sentSha"])
    assert proxy["producerPauses"] > 0
    assert checks["pausedSamples"] > 0 and checks["readingWhilePaused"] == 0
    # The back-pressure reached the client: its own transport paused it.
    assert source["pauses"] > 0
    assert proxy["peakBufferedBytes"] <= proxy["bufferSize"] + facts["readSize"]
    assert facts["lost"] == {"client": "ConnectionDone", "forwardIn": "ConnectionDone",
                             "forwardOut": "ConnectionDone"}


def test_sink_hanging_up_stops_the_proxys_producer(impl):
    facts = run_scenario(impl, "sink-hangs-up")
    proxy, source, sink = facts["proxy"], facts["source"], facts["sink"]
    assert facts["ended"] == ["client", "forwarder", "sink"]
    assert proxy["stopped"], "the sink's transport did not stop the proxy"
    assert source["stopped"] and not source["done"]
    assert 4 * MiB <= sink["received"] < facts["total"]
    # What arrived is the stream's beginning, in order.
    assert sink["receivedSha"] == facts["sinkPrefixSha"]
    assert proxy["peakBufferedBytes"] <= proxy["bufferSize"] + facts["readSize"]


def test_client_hanging_up_still_drains_to_the_sink(impl):
    facts = run_scenario(impl, "client-hangs-up")
    proxy, source, at_close = facts["proxy"], facts["source"], facts["atClientClose"]
    assert source["done"]
    # Mid-stream: when the client's connection was gone, the proxy held bytes the sink had not read.
    assert at_close["bufferedBytes"] > 0 and at_close["sinkReceived"] == 0
    assert at_close["bytesReceived"] == facts["total"]
    assert_all_bytes_arrived(facts, source["sentSha"])
    assert proxy["bufferedBytes"] == 0 and proxy["bytesSent"] == facts["total"]
    assert proxy["peakBufferedBytes"] <= proxy["bufferSize"] + facts["readSize"]
    assert facts["lost"]["forwardOut"] == "ConnectionDone"


def test_declared_interfaces_verify(impl):
    facts = run_scenario(impl, "interfaces")
    assert facts["failures"] == []
    checked = facts["checked"]
    for name in ("BasicProducerConsumerProxy", "ProducerConsumerProxy"):
        assert {"IConsumer", "IPushProducer"} <= set(checked[name])
    assert "IHalfCloseableProtocol" in checked["forward.ClientSide"]
    assert "IProtocolFactory" in checked["forward.ForwardFactory"]
