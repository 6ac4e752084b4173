"""Twisted's interface declarations for pcp's proxies, when zope.interface is there.

zope.interface and Twisted stay optional: without them nothing is declared.
"""

from typing import Any


def declare_interfaces(*classes: Any) -> None:
    """Declare IConsumer and IPushProducer (an IProducer) on each proxy class."""
    try:
        from twisted.internet.interfaces import IConsumer, IPushProducer
        from zope.interface import classImplements
    except ImportError:
        return
    for cls in classes:
        classImplements(cls, IConsumer, IPushProducer)
