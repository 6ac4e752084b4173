"""Instructions per pull of the partial-writes workload, counted by callgrind.

    python tools/callgrind_partial.py [ALTERNATIVE ...]   (default: compiled reference)

Runs the engine's partial round (``pcp.bench``: a fresh pull proxy whose
``_writeSomeData`` takes 16 KiB per call, 16 MiB through) under callgrind, as
the release gate does (``pcp.bench.counting``: marks around one round, start-up
excluded), and prints its instructions per pull, split into memcpy/memmove
(the copies) and everything else (the proxy's own work). Needs valgrind.
"""

from __future__ import annotations

import sys
from typing import List
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pcp.bench import counting, workloads  # noqa: E402


def main(argv: List[str]) -> int:
    """Print instructions per pull for each alternative named in *argv*."""
    names = argv or ["compiled", "reference"]
    case = workloads.partial(16 * workloads.MIB)
    pulls = case.total // workloads.PARTIAL_LIMIT
    counts = counting.count_instructions([(case, name) for name in names])
    for name in names:
        count = counts[case.key, name]
        print(f"{name:10s} per pull: {count.own / pulls:8,.0f} instructions of its own, "
              f"{count.copies / pulls:8,.0f} in memcpy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
