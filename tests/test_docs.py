"""The README and the documentation pages say what is true and runs.

- every ``python`` code block of the README is a complete program that runs;
- every ``python`` code block of the docs pages at least compiles;
- the README's Develop commands are exactly the ones CI runs (``.ci/run``);
- the README's links and images are absolute (a relative one breaks on the
  package index page, which shows the README);
- every program in ``examples/`` is shown in the docs, included from its file,
  and where a page shows a deterministic example's output, it is what the
  example prints;
- every test the README's guarantees table cites exists;
- the guarantees table the docs include from the README is there.

The site itself is built, warnings as errors, by ``.ci/run``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
DOCS = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

FENCE = re.compile(r"^(?P<fence>```+|~~~+)(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_REF = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)=["'](?P<target>[^"']+)["']""", re.I)
OPTIONAL_MODULES = ("twisted", "zope", "uvloop")


def code_blocks(text: str, language: str) -> List[Tuple[int, str]]:
    """(line, code) of each fenced block whose info string starts with *language*."""
    blocks = []
    for match in FENCE.finditer(text):
        words = match.group("info").strip().split()
        if words[:1] == [language] or words[:2] == ["{code-block}", language]:
            blocks.append((text.count("\n", 0, match.start()) + 1, match.group("body")))
    return blocks


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown text ('' if there is none)."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def readme() -> str:
    return README.read_text(encoding="utf-8")


README_BLOCKS = code_blocks(README.read_text(encoding="utf-8"), "python")


@pytest.mark.parametrize("line, code", README_BLOCKS, ids=[f"line{n}" for n, _ in README_BLOCKS])
def test_readme_python_blocks_run(line: int, code: str, tmp_path: Path) -> None:
    missing = [
        m
        for m in OPTIONAL_MODULES
        if re.search(rf"^\s*(from|import) {m}\b", code, re.M) and importlib.util.find_spec(m) is None
    ]
    if missing:
        pytest.skip(f"README block at line {line} needs {', '.join(missing)}")
    script = tmp_path / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    assert result.returncode == 0, f"README line {line}:\n{result.stdout}\n{result.stderr}"


def test_readme_has_a_runnable_python_example() -> None:
    assert code_blocks(readme(), "python"), "the README shows no Python example"


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_python_blocks_compile(page: Path) -> None:
    for line, code in code_blocks(page.read_text(encoding="utf-8"), "python"):
        try:
            compile(code, f"{page.name}:{line}", "exec")
        except SyntaxError as e:
            pytest.fail(f"{page.name}, block at line {line}: {e}")


def test_readme_develop_commands_are_what_ci_runs() -> None:
    develop = section(readme(), "Develop")
    assert develop, "the README has no '## Develop' section"
    commands = [line.strip() for _, block in code_blocks(develop, "sh") for line in block.splitlines()]
    assert 'python -m pip install -e ".[test]"' in commands
    assert "python -m pytest" in commands
    ci_lines = {line.strip() for line in CI.read_text().splitlines()}
    for command in commands:
        if command.startswith(("python -m pip install -e", "python -m pytest")):
            assert command in ci_lines, f"README's {command!r} is not what .ci/run runs"


def test_readme_links_are_absolute() -> None:
    text = readme()
    targets = [m.group("target") for m in LINK.finditer(text)]
    targets += [m.group("target") for m in HTML_REF.finditer(text)]
    relative = [t for t in targets if not re.match(r"(https?://|mailto:|#)", t)]
    assert relative == [], "relative links break on the package index page"


def test_the_link_check_sees_relative_links() -> None:
    text = "![plot](docs/scaling.png) [docs](https://example.org/) <img src='a.png'>"
    targets = [m.group("target") for m in LINK.finditer(text)] + [
        m.group("target") for m in HTML_REF.finditer(text)
    ]
    assert targets == ["docs/scaling.png", "https://example.org/", "a.png"]


def test_readme_has_the_guarantees_table() -> None:
    text = readme()
    start, end = "<!-- guarantees:start -->", "<!-- guarantees:end -->"
    assert text.count(start) == 1 and text.count(end) == 1
    table = text[text.index(start) + len(start) : text.index(end)].strip().splitlines()
    assert table[0].startswith("| Guarantee") and len(table) >= 10


def guarantee_references(table: str) -> List[Tuple[str, str]]:
    """(file, test name or '') for each file and ``::name`` a guarantees table cites.

    A bare ``::name`` belongs to the file cited last before it in the same row.
    """
    cited = []
    for row in table.splitlines():
        last = ""
        for match in re.finditer(r"`((?:tests|tools|fuzz)/[\w/.-]+)?(?:::(\w+))?`", row):
            path, name = match.groups()
            if path:
                last = path
            if path or name:
                cited.append((last, name or ""))
    return cited


def test_the_guarantees_cite_tests_that_exist() -> None:
    text = readme()
    table = text[text.index("<!-- guarantees:start -->") : text.index("<!-- guarantees:end -->")]
    cited = guarantee_references(table)
    assert len(cited) >= 20
    missing = []
    for path, name in cited:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name and not re.search(rf"^\s*(?:async )?(?:def|class) {name}\b", file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == [], "the guarantees table cites what is not there"


def test_the_reference_check_sees_a_missing_test() -> None:
    table = "| a | `tests/test_proxy.py::test_not_there`, `::test_nor_this` |\n| b | `tests/gone.py` |"
    assert guarantee_references(table) == [
        ("tests/test_proxy.py", "test_not_there"),
        ("tests/test_proxy.py", "test_nor_this"),
        ("tests/gone.py", ""),
    ]


# Examples whose output is the same on every run: the page shows it verbatim.
SHOWN_OUTPUT = {
    "quickstart.py": "quickstart.md",
    "hard_cap.py": "quickstart.md",
    "ring_buffer.py": "ringbuffer.md",
}


@pytest.mark.parametrize("example, page", sorted(SHOWN_OUTPUT.items()))
def test_the_output_the_docs_show_is_what_the_example_prints(example: str, page: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
    )
    assert result.returncode == 0, result.stderr
    # The page shows a run of the compiled extension; the twin says so in its place.
    printed = result.stdout.replace("implementation pure Python", "implementation compiled")
    shown = [block for _, block in code_blocks((ROOT / "docs" / page).read_text(encoding="utf-8"), "text")]
    assert printed in shown, f"docs/{page} shows none of examples/{example}'s output:\n{printed}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_shown_in_the_docs(example: Path) -> None:
    included = re.compile(
        rf"^[`:~]*\{{literalinclude\}}\s+\.\./examples/{re.escape(example.name)}\s*$", re.M
    )
    pages = [p.name for p in DOCS if included.search(p.read_text(encoding="utf-8"))]
    assert pages, f"no docs page includes examples/{example.name} (literalinclude)"
