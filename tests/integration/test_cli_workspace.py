"""Where the commands find their data: a missing database is an error that says where it looked;
beside a running `cti demo` they read the demo's data; the demo keeps its password, token and
FastAGI port of its own; `cti calls | head` ends quietly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.integration.test_cli import CAPTURES, EXPECTED, cti

MSK = ZoneInfo("Europe/Moscow")  #: the default office time zone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_calls_without_a_database_says_where_it_looked_and_creates_nothing(
    tmp_path: Path,
) -> None:
    out = cti("calls", cwd=tmp_path)
    assert out.returncode == 2
    assert f"no database at {tmp_path / 'cti.db'}" in out.stderr and "--database" in out.stderr
    assert not (tmp_path / "cti.db").exists()
    duty = cti("duty", "now", cwd=tmp_path)
    assert duty.returncode == 2 and "no database at" in duty.stderr
    other = cti("--database", f"sqlite+aiosqlite:///{tmp_path}/other.db", "calls", cwd=tmp_path)
    assert other.returncode == 2 and str(tmp_path / "other.db") in other.stderr


def test_calls_lists_newest_first_and_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/calls.db"
    files = [str(CAPTURES / name) for name in sorted(EXPECTED)]
    stored = cti("--database", url, "replay", *files, "--json", "--store", cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    every = [json.loads(line) for line in stored.stdout.splitlines()]
    latest = sorted(every, key=lambda c: c["started_at"], reverse=True)[:2]
    two = cti("--database", url, "calls", "--limit", "2", "--json", cwd=tmp_path)
    assert [c["linkedid"] for c in map(json.loads, two.stdout.splitlines())] == [
        c["linkedid"] for c in latest
    ]
    piped = subprocess.run(
        f"{sys.executable} -m cti.cli --database {url} calls --limit 0 | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert len(piped.stdout.splitlines()) == 1 and "Traceback" not in piped.stderr
    as_json = cti("--database", url, "missed", "--json", cwd=tmp_path)
    human = cti("--database", url, "missed", cwd=tmp_path)
    first = json.loads(as_json.stdout.splitlines()[0])["missed_at"]
    office = datetime.fromisoformat(first.replace("Z", "+00:00")).astimezone(MSK)
    assert human.stdout.startswith(office.strftime("%Y-%m-%d %H:%M:%S"))  # office time
    later = cti("--database", url, "calls", "--since", "2999-01-01T00:00:00Z", cwd=tmp_path)
    assert later.returncode == 0 and later.stdout == ""
    assert "no calls since 2999-01-01" in later.stderr


def start_demo(cwd: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    demo = subprocess.Popen(
        [sys.executable, "-m", "cti.cli", "demo", "--port", str(port), "--rate", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env={**os.environ, "CTI_LOG_LEVEL": "WARNING"},
    )
    assert demo.stdout is not None
    banner = ""
    deadline = time.monotonic() + 50
    while "password:" not in banner and time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        banner += line
    assert "password:" in banner, banner
    return demo, banner


def stop(demo: subprocess.Popen[str]) -> None:
    demo.send_signal(signal.SIGINT)
    try:
        demo.wait(timeout=20)
    except subprocess.TimeoutExpired:
        demo.kill()
        demo.wait()
    if demo.stdout is not None:
        demo.stdout.close()


def test_beside_a_running_demo_the_commands_read_its_data(tmp_path: Path) -> None:
    port = free_port()
    demo, banner = start_demo(tmp_path, port)
    try:
        assert "agi://127.0.0.1:" in banner and "agi://127.0.0.1:4573/" not in banner
        agents = cti("agent", "states", "--json", cwd=tmp_path)
        assert agents.returncode == 0, agents.stderr
        assert f"reading the demo's database {tmp_path / 'cti-demo.db'}" in agents.stderr
        assert {"101", "102"} <= {json.loads(x)["login"] for x in agents.stdout.splitlines()}
        deadline = time.monotonic() + 40
        listed = cti("calls", "--json", cwd=tmp_path)
        while not listed.stdout and time.monotonic() < deadline:
            time.sleep(1)
            listed = cti("calls", "--json", cwd=tmp_path)
        assert listed.returncode == 0 and listed.stdout, listed.stderr  # the demo's calls
        assert not (tmp_path / "cti.db").exists()
    finally:
        stop(demo)
    settings = (tmp_path / "cti-demo.toml").stat()
    assert settings.st_mode & 0o077 == 0  # it holds the administrator token
    again, banner_again = start_demo(tmp_path, port)
    try:
        line = lambda text, key: next(x for x in text.splitlines() if key in x)  # noqa: E731
        assert line(banner_again, "password:") == line(banner, "password:")
        assert line(banner_again, "token=") == line(banner, "token=")
    finally:
        stop(again)
