"""The public proxy classes, over the implementation ``pcp`` selected.

``BasicProducerConsumerProxy`` and ``ProducerConsumerProxy`` add to the core
(``pcp._core``, compiled as ``pcp._core_c``) only what Twisted's classes have
on the class: defaults. A class attribute that sets one of the proxy's fields
(``bufferSize = 1024``, ``iAmStreaming = False``), here or in a subclass,
stays on the class and reads as written there; it is the value each new
instance starts from, set before any ``__init__`` runs, and an instance's own
reads and writes reach the one field the core acts on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type

from pcp._interfaces import declare_interfaces

if TYPE_CHECKING:
    from pcp._core import BUFFER_SIZE, BasicCore, BufferedCore
else:
    from pcp._select import core as _core

    BasicCore, BufferedCore, BUFFER_SIZE = _core.BasicCore, _core.BufferedCore, _core.BUFFER_SIZE

__all__ = ["BasicProducerConsumerProxy", "ProducerConsumerProxy", "FIELDS", "classes_over"]

# The fields a class attribute may give a default, in the order they are set
# on a new instance (the marks first: later ones are checked against them).
FIELDS = (
    "bufferSize",
    "lowWater",
    "maxBufferSize",
    "iAmStreaming",
    "paused",
    "stopped",
    "outstandingPull",
    "producerPaused",
    "unregistered",
    "producer",
    "consumer",
    "producerIsStreaming",
)


class ClassDefault:
    """A field's value given on a class: read on the class, it is that value.

    On an instance, reads and writes go to the field itself (the core's
    descriptor, *field*); *default* is what a new instance starts from.
    """

    __slots__ = ("field", "default", "builtin")

    def __init__(self, field: Any, default: Any) -> None:
        self.field = field
        self.default = default
        self.builtin = False  # True: the core starts every instance with this value itself

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self.default
        return self.field.__get__(obj, owner)

    def __set__(self, obj: Any, value: Any) -> None:
        self.field.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.field.__delete__(obj)

    def __repr__(self) -> str:
        return f"<pcp class default {self.default!r}>"


def _raw(cls: type, name: str, start: int = 0) -> Any:
    """The class attribute *name* as stored on the first class of cls.__mro__[start:] with it."""
    for klass in cls.__mro__[start:]:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _isValue(attribute: Any) -> bool:
    return attribute is not None and not hasattr(type(attribute), "__get__")


class _Defaults:
    """Makes a class attribute for one of the proxy's fields that field's default."""

    _classDefaults: Tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in FIELDS:
            value = cls.__dict__.get(name)
            if name in cls.__dict__ and not hasattr(type(value), "__get__"):
                # A plain value over a core descriptor would hide the field.
                field = _raw(cls, name, 1)
                if field is not None and hasattr(type(field), "__set__"):
                    setattr(cls, name, ClassDefault(getattr(field, "field", field), value))
        cls._classDefaults = _defaultsOf(cls)


def _defaultsOf(cls: type) -> Tuple[str, ...]:
    """The fields whose class attribute a new instance of *cls* must be set from."""
    names = []
    for name in FIELDS:
        attribute = _raw(cls, name)
        if isinstance(attribute, ClassDefault) and not attribute.builtin or _isValue(attribute):
            names.append(name)
    return tuple(names)


class BasicProducerConsumerProxy(_Defaults, BasicCore):
    """I can act as a man in the middle between any Producer and Consumer.

    As a consumer I accept ``write`` from the producer registered with me; as a
    producer I pass data on to my consumer, buffering it while I am paused.
    Pause and resume are relayed to a streaming producer; a pull producer is
    pulled while I want data.

    Attributes, as in Twisted: ``producer``, ``consumer``, ``paused``,
    ``stopped``, ``iAmStreaming`` (class default True; False makes a pull
    proxy), ``outstandingPull``, ``producerIsStreaming``. Counters:
    ``bufferedBytes``, ``peakBufferedBytes``, ``producerPauses``,
    ``bytesReceived``, ``bytesSent``, ``bytesDiscarded``.
    """

    iAmStreaming = True  # the core's own default


class ProducerConsumerProxy(BufferedCore, BasicProducerConsumerProxy):
    """ProducerConsumerProxy with a finite buffer.

    When my buffer reaches ``bufferSize`` (the high-water mark, 65536 by
    default) I pause my streaming producer, once, and resume it when the
    buffer falls to ``lowWater`` (``bufferSize // 4`` unless set). My own
    pause is not relayed upstream. ``maxBufferSize`` (off by default) is a hard
    cap: a write past it raises ``pcp.BufferFull``. Subclasses may override
    ``_writeSomeData`` to model a consumer that takes only part of a write.
    """

    bufferSize = BUFFER_SIZE  # the core's own default


def _finish(*classes: Any) -> None:
    # The core starts every instance with these values: reading them on the
    # class gives them, and new instances need not be set from them.
    for cls in classes:
        cls.__module__ = "pcp"
        for name in ("iAmStreaming", "bufferSize"):
            if isinstance(cls.__dict__.get(name), ClassDefault):
                cls.__dict__[name].builtin = True
        cls._classDefaults = _defaultsOf(cls)
    declare_interfaces(*classes)


_finish(BasicProducerConsumerProxy, ProducerConsumerProxy)


def classes_over(core: Any) -> Tuple[Type[Any], Type[Any]]:
    """The two public classes over another implementation's core module (for tests).

    ``pcp`` exports the classes above, over the implementation it selected;
    this builds the same two over *core* (``pcp._core_c`` or ``pcp._core``).
    """
    if core.BasicCore is BasicCore:
        return BasicProducerConsumerProxy, ProducerConsumerProxy
    namespace: Dict[str, Any] = {"__doc__": BasicProducerConsumerProxy.__doc__, "iAmStreaming": True}
    basic = type("BasicProducerConsumerProxy", (_Defaults, core.BasicCore), namespace)
    namespace = {"__doc__": ProducerConsumerProxy.__doc__, "bufferSize": core.BUFFER_SIZE}
    buffered = type("ProducerConsumerProxy", (core.BufferedCore, basic), namespace)
    _finish(basic, buffered)
    return basic, buffered
