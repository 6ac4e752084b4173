"""Instructions per round, counted by valgrind's callgrind: figures that load does not move.

Method. One worker process per alternative runs under ``valgrind
--tool=callgrind --dump-before=getppid``: every call of ``os.getppid()`` (the
*mark*) makes callgrind write the instructions counted since the previous
mark to a new file and start again from zero. For each job (a case) the worker
builds a round and runs it once to warm up (imports, caches, the interpreter's
specialisation; N = 1e3 stands in for larger N), builds a fresh round, collects the garbage, then runs
``mark(); run(); mark()``. The counted segment holds exactly one round (fresh
proxy, its writes and flushes) and the ~500 instructions of one mark call,
measured once per worker on an empty segment and subtracted; interpreter
start-up and imports fall in other segments. The worker's environment is
fixed (``worker_environment``: ``PYTHONHASHSEED=0`` and only the variables it
needs), it runs without address-space randomisation (``no_aslr``) and sees no
name that changes between runs, so the same commit gives the same counts run
after run.

Each segment's instructions spent in ``memcpy``/``memmove`` are counted apart
(the copies), from callgrind's per-function self costs.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from pcp.bench.workloads import Case, buffered, churn

__all__ = ["Count", "Unavailable", "count_instructions", "no_aslr", "parse_segment", "valgrind_version",
           "worker_environment"]

COPY_FUNCTIONS = ("memcpy", "memmove")
#: Workers are started in this order, the longest first, so that two at a time finish together.
SLOWEST_FIRST = ("twisted", "reference", "twin", "compiled", "memmove", "direct")


class Unavailable(Exception):
    """Instructions cannot be counted here (the message says why)."""


@dataclass(frozen=True)
class Count:
    """Instructions of one round: all of them, and those spent copying (memcpy/memmove)."""

    instructions: int
    copies: int

    @property
    def own(self) -> int:
        """Instructions outside memcpy/memmove."""
        return self.instructions - self.copies


def valgrind_version() -> Optional[str]:
    """``valgrind --version``, or None when it is not installed."""
    exe = shutil.which("valgrind")
    if exe is None:
        return None
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def parse_segment(path: str) -> Count:
    """The instructions of one callgrind dump, and those in memcpy/memmove (self cost)."""
    total = copies = 0
    names: Dict[str, str] = {}
    function = ""
    after_calls = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line or line[0] in "\n#":
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                if after_calls:  # the inclusive cost of a call, not this function's own
                    after_calls = False
                    continue
                if any(name in function for name in COPY_FUNCTIONS):
                    copies += int(line.split()[-1])
                continue
            after_calls = False
            if line.startswith("fn="):
                function = _name(line[3:].strip(), names)
            elif line.startswith(("cfn=", "cfi=", "cfl=", "fi=", "fe=", "fl=", "ob=", "cob=")):
                if line.startswith("cfn="):
                    _name(line[4:].strip(), names)
            elif line.startswith("calls="):
                after_calls = True
            elif line.startswith("summary:"):
                total = int(line.split()[1])
    return Count(total, copies)


def _name(text: str, names: Dict[str, str]) -> str:
    # Name compression: "(12) name" defines id 12, "(12)" refers to it.
    if text.startswith("("):
        ident, _, rest = text.partition(")")
        rest = rest.strip()
        if rest:
            names[ident] = rest
            return rest
        return names.get(ident, "")
    return text


def count_instructions(jobs: Sequence[Tuple[Case, str]], parallel: int = 2,
                       progress: Optional[Callable[[str], None]] = None) -> Dict[Tuple[str, str], Count]:
    """Instructions of one fresh round of each (case, alternative), by (case key, alternative).

    One worker process per alternative, *parallel* at a time. Raises
    Unavailable without valgrind; RuntimeError when a worker fails.
    """
    exe = shutil.which("valgrind")
    if exe is None:
        raise Unavailable("valgrind is not installed: instruction counts need it (apt-get install valgrind)")
    by_alt: Dict[str, List[Case]] = {}
    for case, alt in sorted(jobs, key=lambda job: SLOWEST_FIRST.index(job[1]) if job[1] in SLOWEST_FIRST else 0):
        by_alt.setdefault(alt, []).append(case)
    results: Dict[Tuple[str, str], Count] = {}
    with tempfile.TemporaryDirectory(prefix="pcp-callgrind-") as workdir:
        def one(alt: str) -> Dict[Tuple[str, str], Count]:
            counts = _run_worker(exe, alt, by_alt[alt], os.path.join(workdir, alt))
            if progress is not None:
                progress(f"instructions counted: {alt} ({len(counts)} case(s))")
            return counts

        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            for counts in pool.map(one, list(by_alt)):
                results.update(counts)
    return results


# Names that change from run to run (a temporary directory, as the working
# directory or in sys.path) would land in the interpreter's dicts and change
# the instruction counts by a few hundredths of a percent: the worker runs in
# a fixed directory, with -c, and reads its jobs from stdin.
WORKER = "import sys; from pcp.bench.counting import _worker; sys.exit(_worker())"


def worker_environment() -> Dict[str, str]:
    """The environment of a measuring process: the same whoever starts it.

    Only what the run needs (PATH, the pcp being measured first on the path,
    PCP_NO_EXTENSIONS if set, a fixed hash seed): the caller's other variables
    would change the interpreter's allocations, and with them where a
    ``realloc`` can grow in place, hence the instruction counts.
    """
    import pcp

    root = os.path.dirname(os.path.dirname(os.path.abspath(pcp.__file__)))
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    for name in ("PCP_NO_EXTENSIONS", "SYSTEMROOT", "VALGRIND_LIB"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def no_aslr() -> List[str]:
    """The prefix that runs a command without address-space randomisation (``setarch -R``).

    Valgrind places the client's memory around its own mappings, which the
    kernel randomises; where the heap lands then decides whether a
    ``realloc`` grows in place or copies, which moves the counts by a few
    percent from run to run. Without ``setarch`` the counts still come, less
    repeatable.
    """
    setarch = shutil.which("setarch")
    return [setarch, platform.machine(), "-R"] if setarch and sys.platform.startswith("linux") else []


def _run_worker(exe: str, alt: str, cases: List[Case], prefix: str) -> Dict[Tuple[str, str], Count]:
    os.makedirs(prefix)
    jobs = json.dumps({"alt": alt, "cases": [asdict(case) for case in cases]})
    out = os.path.join(prefix, "cg.out")
    env = worker_environment()
    command = no_aslr() + [exe, "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
               "--compress-strings=no", sys.executable, "-c", WORKER]
    # The worker runs in the directory of the pcp it measures and reads its jobs
    # from stdin: no name of a random temporary directory reaches it.
    # Run once natively first, so that every module it imports has its .pyc:
    # a first run that compiles them leaves another heap and moved the counts
    # of the first gate in a fresh clone by up to 0.33%.
    subprocess.run([sys.executable, "-c", WORKER], env=env, cwd=env["PYTHONPATH"].split(os.pathsep)[0],
                   input=jobs, capture_output=True, text=True)
    proc = subprocess.run(command, env=env, cwd=env["PYTHONPATH"].split(os.pathsep)[0], input=jobs,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"callgrind worker for {alt} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # Dump k is written at the k-th mark and holds what ran since mark k-1:
    # marks 1 and 2 enclose the empty segment, marks 2j+3 and 2j+4 job j.
    expected = 2 + 2 * len(cases)
    present = sorted(int(name.rsplit(".", 1)[1]) for name in os.listdir(prefix)
                     if name.startswith("cg.out.") and name.rsplit(".", 1)[1].isdigit())
    if present != list(range(1, expected + 1)):
        raise RuntimeError(
            f"callgrind worker for {alt}: expected dumps 1..{expected}, found {present[:5]}..."
            " (does this platform's os.getppid call a function named getppid?)")
    empty = parse_segment(f"{out}.2")
    counts = {}
    for j, case in enumerate(cases):
        seg = parse_segment(f"{out}.{2 * j + 4}")
        counts[case.key, alt] = Count(seg.instructions - empty.instructions, seg.copies - empty.copies)
    return counts


def warm_up_case(case: Case) -> Case:
    """The round run before the counted one: the same, or a smaller one of the same kind.

    It warms the interpreter (imports, caches, specialisation), which a
    thousand writes do as well as a million; the counted round is always the
    full one.
    """
    if case.workload == "buffered" and case.n > 1000:
        return buffered(1000, case.chunks)
    if case.workload == "churn" and case.n > 1000:
        return churn(1000)
    return case


def _worker() -> int:
    """Run inside callgrind: the empty segment, then one warm and one counted round per case."""
    from pcp.bench.alternatives import load_alternatives
    from pcp.bench.workloads import build_round

    jobs = json.load(sys.stdin)
    alt = load_alternatives(only=[jobs["alt"]])[jobs["alt"]]
    cases = [Case(**fields) for fields in jobs["cases"]]
    mark = os.getppid
    prepared = [build_round(case, alt) for case in cases]
    gc.collect()
    mark()
    mark()
    for case, prepare in zip(cases, prepared):
        warm = build_round(warm_up_case(case), alt) if warm_up_case(case) != case else prepare
        run, check = warm()
        run()
        check()
        del run, check
        run, check = prepare()
        gc.collect()
        mark()
        run()
        mark()
        check()
        del run, check
    return 0


if __name__ == "__main__":
    print("pcp.bench.counting is run by count_instructions (python -c, jobs on stdin)", file=sys.stderr)
    sys.exit(2)
