"""Schemathesis on the webhook routes with an administrator's token (the shared fuzz test's token
has no admin scope, so it only ever sees 403 there): no request the description allows makes
the server fail, answers match their documented shapes, and no secret reaches the log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

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

from tests.integration.test_api_fuzz import OPENAPI, PASSWORD, Server, _cti, _free_port

schema = schemathesis.openapi.from_path(OPENAPI).include(path_regex="^/api/webhooks")
SECRET = "fuzz-known-subscription-secret"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("webhooks-api")
    port = _free_port()
    env = {
        **os.environ,
        "CTI_DATABASE_URL": f"sqlite:///{home / 'cti.db'}",
        "CTI_AMI_PORT": str(_free_port()),
        "CTI_AMI_RECONNECT_MAX": "2",
        "CTI_AGI_PORT": str(_free_port()),
        "CTI_LOG_LEVEL": "DEBUG",
    }
    _cti("user", "add", "admin", "--role", "admin", env=env, stdin=PASSWORD + "\n")
    token = _cti("token", "create", "admin", "--scope", "read,write,admin", env=env).splitlines()[
        -1
    ]
    _cti(
        "webhook", "add", "http://127.0.0.1:9/hook", "--events", "all", "--secret", SECRET, env=env
    )
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
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_webhook_request_makes_the_server_fail(
    case: schemathesis.Case, admin_server: Server
) -> None:
    case.call_and_validate(
        base_url=admin_server.url,
        headers={"Authorization": f"Bearer {admin_server.token}"},
        checks=[
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            not_a_server_error,
        ],
    )


def test_no_secret_reaches_the_log_or_a_listing(admin_server: Server) -> None:
    listed = requests.get(
        f"{admin_server.url}/api/webhooks",
        headers={"Authorization": f"Bearer {admin_server.token}"},
        timeout=5,
    )
    assert listed.status_code == 200 and SECRET not in listed.text
    text = admin_server.log.read_text()
    assert SECRET not in text and admin_server.token not in text
