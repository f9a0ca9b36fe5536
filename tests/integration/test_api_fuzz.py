"""Schemathesis against a real `cti serve` (a process on a port, SQLite, a bearer token from
`cti token create`): no request the OpenAPI description allows makes the server fail (5xx),
responses match their documented status codes and shapes, and no secret reaches the log."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
PASSWORD = "fuzzing admin password"

schema = schemathesis.openapi.from_path(OPENAPI)


@dataclass
class Server:
    url: str
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cti(*args: str, env: dict[str, str], stdin: str = "") -> str:
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


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("api")
    port = _free_port()
    env = {
        **os.environ,
        "CTI_DATABASE_URL": f"sqlite:///{home / 'cti.db'}",
        "CTI_AMI_PORT": str(_free_port()),  # nobody there: the server keeps retrying, as in life
        "CTI_AMI_RECONNECT_MAX": "2",
        "CTI_AGI_PORT": str(_free_port()),
        "CTI_LOG_LEVEL": "DEBUG",
    }
    _cti("user", "add", "admin", "--role", "admin", env=env, stdin=PASSWORD + "\n")
    token = _cti(
        "token", "create", "admin", "--scope", "read", "--scope", "write", env=env
    ).splitlines()[-1]
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


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_server_fail(case: schemathesis.Case, api_server: Server) -> None:
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    if case.operation.path != "/health/ready":  # 503 there is the documented "degraded" answer
        checks.append(not_a_server_error)
    case.call_and_validate(
        base_url=api_server.url,
        headers={"Authorization": f"Bearer {api_server.token}"},
        checks=checks,
    )


def test_the_served_description_is_the_file_and_secrets_stay_out_of_the_log(
    api_server: Server,
) -> None:
    served = requests.get(f"{api_server.url}/api/openapi.json", timeout=5)
    assert served.status_code == 200 and served.json() == schema.raw_schema
    me = requests.get(
        f"{api_server.url}/api/me",
        headers={"Authorization": f"Bearer {api_server.token}"},
        timeout=5,
    )
    assert me.json()["login"] == "admin" and me.json()["via"] == "token"
    text = api_server.log.read_text()
    assert "cti serving on" in text
    assert api_server.token not in text and PASSWORD not in text
