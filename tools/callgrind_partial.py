"""Instructions per pull of the partial-writes workload, counted by callgrind.

    python tools/callgrind_partial.py [ALTERNATIVE ...]   (default: compiled reference)

Timing that workload is noisy: half of it is memcpy, and the machines are
shared. Instruction counts are not. For each alternative this runs the
benchmark's own partial round (``pcp.bench``, 16 MiB, a pull proxy whose
``_writeSomeData`` takes 16 KiB per call) under ``valgrind --tool=callgrind``
for 1 and then 11 rounds, and prints the difference per pull, split into
memcpy/memmove (the copies) and everything else (the proxy's own work).
Needs valgrind; takes about a minute per alternative.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

ROUNDS = (1, 11)


def _run_rounds(alternative: str, rounds: int) -> None:
    from pcp import bench

    case = bench.partial_case(16 * bench.MIB)
    one_round = bench.build_round(case, bench.load_alternatives()[alternative])
    for _ in range(rounds):
        one_round()


def _count(alternative: str, rounds: int, workdir: str) -> tuple[int, int]:
    """Run *rounds* under callgrind; return (all instructions, memcpy/memmove instructions)."""
    out = os.path.join(workdir, f"{alternative}.{rounds}")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         sys.executable, __file__, "--run", alternative, str(rounds)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    report = subprocess.run(["callgrind_annotate", out], check=True, capture_output=True, text=True).stdout
    total = copies = 0
    for line in report.splitlines():
        match = re.match(r"\s*([\d,]+) ", line)
        if not match:
            continue
        value = int(match.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
        elif "memcpy" in line or "memmove" in line:
            copies += value
    return total, copies


def main(argv: list[str]) -> int:
    """Print instructions per pull for each alternative named in *argv*."""
    if argv[:1] == ["--run"]:
        _run_rounds(argv[1], int(argv[2]))
        return 0
    from pcp import bench

    pulls = (ROUNDS[1] - ROUNDS[0]) * (16 * bench.MIB // bench.PARTIAL_LIMIT)
    with tempfile.TemporaryDirectory() as workdir:
        for alternative in argv or ["compiled", "reference"]:
            (t0, c0), (t1, c1) = (_count(alternative, n, workdir) for n in ROUNDS)
            copies, rest = (c1 - c0) / pulls, (t1 - c1 - (t0 - c0)) / pulls
            print(f"{alternative:10s} per pull: {rest:8,.0f} instructions of its own, {copies:8,.0f} in memcpy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
