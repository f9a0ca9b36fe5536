"""A real `cti serve` for the schemathesis tests: a process on a port, SQLite, an administrator
with a bearer token from `cti token create`, stopped when the block ends."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

OPENAPI = Path(__file__).resolve().parents[1] / "schemas" / "openapi.json"
PASSWORD = "fuzzing admin password"


@dataclass
class Server:
    url: str
    token: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cti(*args: str, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def fuzz_server(
    home: Path, *, scopes: str, prepare: Callable[[dict[str, str]], None] | None = None
) -> Iterator[Server]:
    """`cti serve` on its own database in `home`; `prepare(env)` runs `cti` commands first."""
    port = free_port()
    env = {
        **os.environ,
        "CTI_DATABASE_URL": f"sqlite:///{home / 'cti.db'}",
        "CTI_AMI_PORT": str(free_port()),  # nobody there: the server keeps retrying, as in life
        "CTI_AMI_RECONNECT_MAX": "2",
        "CTI_AGI_PORT": str(free_port()),
        "CTI_LOG_LEVEL": "DEBUG",
    }
    cti("user", "add", "admin", "--role", "admin", env=env, stdin=PASSWORD + "\n")
    token = cti("token", "create", "admin", "--scope", scopes, env=env).splitlines()[-1]
    if prepare is not None:
        prepare(env)
    log = home / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cti.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(url, token, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
