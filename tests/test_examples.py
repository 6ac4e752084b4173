"""Every program in ``examples/`` runs to completion by itself, on loopback only.

Each example is a complete program. It runs in a subprocess, from an empty
temporary directory, on the implementation this suite runs on
(``PCP_NO_EXTENSIONS`` is passed through), and must exit with status 0 within
``TIMEOUT`` seconds, print what it did, and print no traceback. An example
checks its own results (every byte, in order) and fails when they are wrong.
An example whose optional dependency (Twisted, uvloop) is not installed is
skipped, naming it.
"""

from __future__ import annotations

import ast
import importlib.util
import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Set

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
OPTIONAL_MODULES = {"twisted", "zope", "uvloop"}
TIMEOUT = 120.0
LISTEN_CALLS = {"listenTCP", "listenUDP", "listenSSL"}


def imported_modules(source: str) -> Set[str]:
    """The top-level names of the modules *source* imports (absolute imports)."""
    names: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def off_loopback(source: str) -> List[str]:
    """What in *source* would listen or connect beyond the loopback interface.

    Any string that is an IP address must be a loopback one, and every
    Twisted ``listen*`` call must name its interface (its default is every
    interface).
    """
    problems = []  # (line, text)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                address = ipaddress.ip_address(node.value)
            except ValueError:
                continue
            if not address.is_loopback:
                problems.append((node.lineno, f"address {node.value!r} is not loopback"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in LISTEN_CALLS and not any(k.arg == "interface" for k in node.keywords):
                problems.append((node.lineno, f"{name}() without interface= listens everywhere"))
    return [f"line {line}: {text}" for line, text in sorted(problems)]


def run_example(path: Path, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run *path* with this Python from *cwd*; TimeoutExpired (child killed) past *timeout*."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def missing_dependencies(path: Path) -> Optional[str]:
    """The optional modules *path* imports that are not installed, or None."""
    missing = sorted(
        name
        for name in imported_modules(path.read_text()) & OPTIONAL_MODULES
        if importlib.util.find_spec(name) is None
    )
    return ", ".join(missing) or None


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 6, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    missing = missing_dependencies(path)
    if missing:
        pytest.skip(f"{path.name} needs {missing}, not installed")
    result = run_example(path, tmp_path)
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"{path.name} exited with {result.returncode}\n{output}"
    assert "Traceback" not in result.stderr, output
    assert result.stdout.strip(), f"{path.name} printed nothing\n{output}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_stays_on_loopback(path: Path) -> None:
    assert off_loopback(path.read_text()) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_has_a_docstring(path: Path) -> None:
    """Each example says what it shows, first thing (the docs show it too)."""
    assert ast.get_docstring(ast.parse(path.read_text())), path.name


# -- the checks themselves can fail ---------------------------------------------------


def test_the_runner_sees_a_failing_example(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pcp\nassert pcp.RingBuffer().read() == b'x', 'wrong result'\n")
    result = run_example(bad, tmp_path)
    assert result.returncode != 0 and "wrong result" in result.stderr


def test_the_runner_stops_a_hanging_example(tmp_path: Path) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\n")
    with pytest.raises(subprocess.TimeoutExpired):
        run_example(hang, tmp_path, timeout=1.0)


def test_the_loopback_check_sees_other_interfaces() -> None:
    source = (
        "reactor.listenTCP(0, factory)\n"
        "reactor.listenTCP(0, factory, interface='127.0.0.1')\n"
        "loop.create_server(f, '0.0.0.0', 0)\n"
        "connect('::1', 80)\n"
        "connect('10.1.2.3', 80)\n"
    )
    assert off_loopback(source) == [
        "line 1: listenTCP() without interface= listens everywhere",
        "line 3: address '0.0.0.0' is not loopback",
        "line 5: address '10.1.2.3' is not loopback",
    ]
