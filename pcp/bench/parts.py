"""The parts around the proxy in every workload: a consumer and two producers."""

from __future__ import annotations

from typing import Any

__all__ = ["CountingConsumer", "PullProducer", "StreamingProducer"]


class CountingConsumer:
    """A consumer whose write only counts the bytes (or characters) it is given."""

    def __init__(self) -> None:
        self.received: int = 0
        self.producer: Any = None

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Remember the producer (the proxy)."""
        self.producer = producer

    def unregisterProducer(self) -> None:
        """Forget the producer."""
        self.producer = None

    def write(self, data: Any) -> None:
        """Count *data*."""
        self.received += len(data)


class StreamingProducer:
    """A push producer that counts how often it is paused and resumed."""

    def __init__(self) -> None:
        self.paused: bool = False
        self.pauses: int = 0
        self.resumes: int = 0

    def pauseProducing(self) -> None:
        """Count a pause."""
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        """Count a resume."""
        self.paused = False
        self.resumes += 1

    def stopProducing(self) -> None:
        """Nothing to stop."""


class PullProducer:
    """A pull producer: each resumeProducing writes one chunk while its budget lasts."""

    def __init__(self, chunk: Any, budget: int) -> None:
        self.chunk = chunk
        self.left: int = budget
        self.consumer: Any = None

    def resumeProducing(self) -> None:
        """Write one chunk to the consumer, if any budget is left."""
        if self.left > 0:
            self.left -= len(self.chunk)
            self.consumer.write(self.chunk)

    def stopProducing(self) -> None:
        """Spend the budget."""
        self.left = 0
