"""pcp-forward's command line: --version, --help and --loop without the extras, log formats and
levels, every-interface listening, the connect timeout, usage errors, and the units in its logs."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pcp
from forward_support import (
    TIMEOUT,
    EchoTarget,
    Forwarder,
    connect,
    forwarder,  # noqa: F401 (fixture)
    loop,  # noqa: F401 (fixture)
)
from pcp.forward import parse_args
from pcp.forward._units import parse_bytes, show_rate, show_size

# Hides Twisted, zope.interface and uvloop from the process, as if not installed.
HIDE_EXTRAS = "import sys\nfor name in ('twisted', 'zope', 'uvloop'):\n    sys.modules[name] = None\n"


@pytest.fixture
def without_extras(tmp_path):
    """Environment variables that start Python with Twisted and uvloop impossible to import."""
    (tmp_path / "sitecustomize.py").write_text(HIDE_EXTRAS)
    return {"PYTHONPATH": str(tmp_path)}


def run(*args, env=None, timeout=TIMEOUT):
    import os

    return subprocess.run([sys.executable, "-m", "pcp.forward", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


# -- version, help and the loops without extras -------------------------------------------


def test_version():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"pcp-forward {pcp.__version__} (pcp ")
    assert "loops: asyncio, uvloop" in proc.stdout


def test_console_script_version():
    script = Path(sys.executable).with_name("pcp-forward")
    if not script.exists():
        pytest.skip("the pcp-forward console script is not installed next to this Python")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stdout.startswith("pcp-forward ")


def test_the_extras_are_really_hidden(without_extras):
    import os

    code = "import importlib\nfor m in ('twisted', 'uvloop'):\n    try:\n        importlib.import_module(m)\n" \
           "    except ImportError:\n        print(m, 'hidden')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, **without_extras))
    assert proc.stdout.split("\n")[:2] == ["twisted hidden", "uvloop hidden"], proc.stderr


def test_help_without_twisted_or_uvloop(without_extras):
    proc = run("--help", env=without_extras)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: pcp-forward")
    assert "--loop {asyncio,uvloop,twisted}" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("loop_name, needs", [
    ("twisted", "--loop twisted needs Twisted and zope.interface: pip install 'pcp-buffer[twisted]'"),
    ("uvloop", "--loop uvloop needs uvloop: pip install 'pcp-buffer[uvloop]'"),
])
def test_a_missing_loop_is_one_clear_error(without_extras, loop_name, needs):
    proc = run("--listen", "127.0.0.1:0", "--connect", "127.0.0.1:9", "--loop", loop_name, env=without_extras)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"pcp-forward: error: {needs}")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_asyncio_forwards_without_twisted_or_uvloop(without_extras):
    echo = EchoTarget()
    try:
        fwd = Forwarder("asyncio", "--connect", f"127.0.0.1:{echo.port}", env=without_extras)
        with connect(fwd.port) as client:
            client.sendall(b"no extras\n")
            assert client.recv(100) == b"no extras\n"
        fwd.wait_for(r"connection 1 \S+ -> \S+ closed")
        assert fwd.close() == 0
    finally:
        echo.stop()


# -- logs ---------------------------------------------------------------------------------


def test_json_logs_parse_and_carry_the_fields(forwarder):
    echo = EchoTarget()
    try:
        fwd = forwarder("--connect", f"127.0.0.1:{echo.port}", "--log-format", "json")
        with connect(fwd.port) as client:
            client.sendall(b"x" * 1000)
            got = b""
            while len(got) < 1000:
                got += client.recv(1000)
        fwd.wait_for(r'"event":"connection_closed"')
        assert fwd.close() == 0
    finally:
        echo.stop()
    entries = [json.loads(line) for line in fwd.lines]  # every line is one JSON object
    events = [e["event"] for e in entries]
    for event in ("listening", "connection_opened", "connection_closed", "shutdown", "totals", "stopped"):
        assert event in events, events
    for entry in entries:
        assert {"time", "level", "logger", "event", "message"} <= set(entry)
        assert entry["time"].endswith("Z")
    closed = entries[events.index("connection_closed")]
    assert closed["bytes_up"] == closed["bytes_down"] == 1000
    assert closed["connection"] == 1 and closed["how"] in ("client closed", "target closed")
    assert entries[events.index("listening")]["loop"] == fwd.wait_for(r'"loop":"(\w+)"')[1]
    assert entries[-1]["exit_status"] == 0


def test_log_level_warning_leaves_out_the_connection_lines(loop):
    echo = EchoTarget()
    port = free_port()
    try:
        fwd = Forwarder(loop, "--connect", f"127.0.0.1:{echo.port}", "--log-level", "warning",
                        listen=f"127.0.0.1:{port}", wait=False)
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                client = connect(port)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and fwd.proc.poll() is None
                time.sleep(0.05)
        with client:
            client.sendall(b"quiet\n")
            assert client.recv(100) == b"quiet\n"
        fwd.signal(signal.SIGTERM)
        assert fwd.exit_status() == 0
    finally:
        echo.stop()
    assert fwd.lines == []


def test_log_level_notice_keeps_the_forwarders_own_lines_only(forwarder):
    echo = EchoTarget()
    try:
        fwd = forwarder("--connect", f"127.0.0.1:{echo.port}", "--log-level", "notice")
        with connect(fwd.port) as client:
            client.sendall(b"hi")
            assert client.recv(10) == b"hi"
        assert fwd.close() == 0
    finally:
        echo.stop()
    assert [line.split()[1] for line in fwd.lines] == ["notice"] * len(fwd.lines)
    text = "\n".join(fwd.lines)
    assert "listening on" in text and "shutting down on SIGTERM" in text and "stopped (exit status 0)" in text
    assert "connection 1" not in text


def test_log_level_debug_says_when_the_target_is_connected(forwarder):
    echo = EchoTarget()
    try:
        fwd = forwarder("--connect", f"127.0.0.1:{echo.port}", "--log-level", "debug")
        with connect(fwd.port) as client:
            client.sendall(b"hi")
            assert client.recv(10) == b"hi"
        fwd.wait_for(r"connection 1 connected to 127\.0\.0\.1:\d+ in \d+\.\d ms")
        fwd.wait_for(r"connection 1 \S+ -> \S+ closed after")
    finally:
        echo.stop()


def test_listening_on_every_interface_says_so(forwarder):
    echo = EchoTarget()
    try:
        fwd = forwarder("--connect", f"127.0.0.1:{echo.port}", listen=":0")
        line = fwd.wait_for(r"listening on (\S+):(\d+), every interface \((IPv4 and IPv6|IPv4)\)")
        addresses = ["127.0.0.1"] + (["::1"] if line[3] == "IPv4 and IPv6" else [])
        for address in addresses:
            with socket.create_connection((address, fwd.port), timeout=TIMEOUT) as client:
                client.sendall(b"any\n")
                assert client.recv(10) == b"any\n"
    finally:
        echo.stop()


def test_connect_timeout(forwarder):
    # A target whose listen queue is full: SYNs to it are dropped, connecting hangs.
    target = socket.socket()
    target.bind(("127.0.0.1", 0))
    target.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(target.getsockname())
        fillers.append(filler)
    time.sleep(0.2)
    try:
        fwd = forwarder("--connect", "%s:%d" % target.getsockname(), "--connect-timeout", "0.5")
        began = time.monotonic()
        with connect(fwd.port) as client:
            try:
                assert client.recv(10) == b""
            except ConnectionResetError:
                pass
        assert 0.4 < time.monotonic() - began < 10
        fwd.wait_for(r"connection 1 \S+ -> \S+: not forwarded, connecting to the target failed: timed out after 0\.5s")
    finally:
        for sock in fillers + [target]:
            sock.close()


# -- usage errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--loop", "gevent"], "argument --loop: invalid choice: 'gevent'"),
        (["--backlog", "0"], "argument --backlog: expected at least 1"),
        (["--max-connections", "many"], "argument --max-connections: expected a whole number"),
        (["--drain-timeout", "-1"], "argument --drain-timeout: expected a number of seconds, 0 or more"),
        (["--drain-timeout", "nan"], "argument --drain-timeout: expected a number of seconds, 0 or more"),
        (["--connect-timeout", "0"], "argument --connect-timeout: expected a positive number of seconds"),
        (["--metrics", "nowhere"], "argument --metrics: expected HOST:PORT"),
        (["--listen", "127.0.0.1:8080", "--metrics", "127.0.0.1:8080"], "--metrics must not use the --listen address"),
        (["--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        (["--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    ],
)
def test_bad_new_arguments_are_usage_errors(argv, message, capsys):
    base = ["--listen", ":0", "--connect", "h:1"]
    with pytest.raises(SystemExit) as exit_info:
        parse_args(base + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults():
    args = parse_args(["--listen", ":0", "--connect", "h:1"])
    assert (args.loop, args.backlog, args.drain_timeout, args.connect_timeout) == ("asyncio", 4096, 20.0, 30.0)
    assert (args.max_connections, args.metrics, args.log_level, args.log_format) == (None, None, "info", "text")


# -- units ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count, text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (65536, "64.0 KiB"), (1536 * 1024, "1.5 MiB"),
    (16 << 20, "16.0 MiB"), (3 << 30, "3.00 GiB"), (5 << 40, "5.00 TiB"), (5 << 50, "5120.00 TiB"),
])
def test_show_size(count, text):
    assert show_size(count) == text


def test_show_rate():
    assert show_rate(64 << 20, 2.0) == "32.0 MiB/s"
    assert show_rate(100, 0) == "-"


@pytest.mark.parametrize("text, count", [("65536", 65536), ("64K", 65536), ("64 kib", 65536),
                                         ("1M", 1 << 20), ("2MiB", 2 << 20), ("1g", 1 << 30), ("10b", 10)])
def test_parse_bytes(text, count):
    assert parse_bytes(text) == count
