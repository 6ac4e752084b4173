"""Exceptions pcp raises beyond the built-in ones."""


class BufferFull(Exception):
    """A write would take a proxy's buffer past its ``maxBufferSize``.

    Nothing of the refused write was buffered; everything accepted before it
    is still buffered and still flushes.
    """
