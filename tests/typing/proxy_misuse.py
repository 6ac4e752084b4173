"""Mistakes with pcp's proxies that the types catch: each line whose comment starts with ``error:``
must be reported by mypy --strict and by pyright (strict), and no other line.
"""

# pyright: strict

from __future__ import annotations

import pcp

proxy = pcp.ProducerConsumerProxy(None)
proxy.bufferSize = "big"  # error: a mark is a number of bytes
proxy.lowWater = 1.5  # error: nor a float
proxy.write("text")  # error: str is not a bytes-like object
proxy.write(None)  # error: nor is None
proxy.bytesSent = 0  # error: counters are read-only
proxy.paused = "yes"  # error: paused is a bool
sent: str = proxy.bytesReceived  # error: counters are ints
proxy.registerProducer(object())  # error: streaming is required
