# The compiled core is pcp/_core.py compiled as it stands: its types are that file's.
from pcp._core import BUFFER_SIZE as BUFFER_SIZE
from pcp._core import BasicCore as BasicCore
from pcp._core import BufferedCore as BufferedCore

__all__ = ["BasicCore", "BufferedCore"]
