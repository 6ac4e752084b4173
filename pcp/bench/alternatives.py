"""The implementations every workload runs against, and the physical references."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from pcp._reference import ReferenceProxy
from pcp.bench.parts import CountingConsumer

__all__ = [
    "ALTERNATIVES",
    "PHYSICAL",
    "Alternative",
    "load_alternatives",
    "twisted_bytes_flush_error",
]

#: The proxies every workload runs against, in table order.
ALTERNATIVES = ("compiled", "twin", "reference", "twisted")
#: Physical references: what the work costs without any proxy, by workload.
PHYSICAL = {"passthrough": "direct", "large": "memmove"}


@dataclass
class Alternative:
    """One implementation: its ProducerConsumerProxy class, or why it is missing."""

    name: str
    cls: Optional[type] = None
    missing: str = ""
    note: str = ""

    @property
    def twisted(self) -> bool:
        """Whether this is Twisted's proxy (whose flush of bytes fails on Python 3)."""
        return self.name == "twisted"


def load_alternatives(only: Optional[Sequence[str]] = None) -> Dict[str, Alternative]:
    """Every alternative by name (the physical references too); a missing one says why.

    With *only*, just those are loaded (a measuring process imports nothing else).
    """
    import pcp
    from pcp._implementations import load

    wanted = set(ALTERNATIVES + tuple(PHYSICAL.values()) if only is None else only)
    alts = {name: Alternative(name) for name in ALTERNATIVES}
    if "compiled" not in wanted:
        alts["compiled"].missing = "not loaded"
    elif pcp.EXTENSIONS:
        alts["compiled"].cls = load("compiled").ProducerConsumerProxy
    elif os.environ.get("PCP_NO_EXTENSIONS"):
        alts["compiled"].missing = "disabled by PCP_NO_EXTENSIONS"
    else:
        alts["compiled"].missing = "the compiled extension is not built"
    alts["twin"].cls = load("twin").ProducerConsumerProxy
    alts["reference"].cls = ReferenceProxy
    alts["reference"].note = "list of chunks, byte count, b''.join on flush (pcp._reference)"
    try:
        if "twisted" not in wanted:
            raise LookupError
        from twisted.protocols.pcp import ProducerConsumerProxy as TwistedProxy
    except LookupError:
        alts["twisted"].missing = "not loaded"
    except ImportError:
        alts["twisted"].missing = "not installed"
    else:
        alts["twisted"].cls = TwistedProxy
        error = twisted_bytes_flush_error(TwistedProxy)
        alts["twisted"].note = (
            "flushes buffered bytes: measured on bytes throughout" if error is None else
            f"flushing buffered bytes raises {error}; measured: its writes with bytes, its "
            "flushes with str of the same size (partial and churn run on str)"
        )
    alts["direct"] = Alternative("direct", note="the consumer's write called in the same loop, no proxy")
    alts["memmove"] = Alternative(
        "memmove", note="the same chunks copied into a bytearray the size of one flush, "
        "allocated before the round (the physical reference)")
    return alts


def twisted_bytes_flush_error(cls: type) -> Optional[str]:
    """Flush one buffered bytes write through *cls*; the exception it raises, or None."""
    proxy = cls(CountingConsumer())
    proxy.pauseProducing()
    proxy.write(b"x" * 64)
    try:
        proxy.resumeProducing()
    except Exception as exc:  # noqa: BLE001 - reported, whatever it is
        return f"{type(exc).__name__}: {exc}"
    return None
