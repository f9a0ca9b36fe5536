"""Schemathesis on the webhook routes with an administrator's token (the shared fuzz test's token
has no admin scope, so it only ever sees 403 there): no request the description allows makes
the server fail, answers match their documented shapes, and no secret reaches the log."""

from __future__ import annotations

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

from tests.fuzz_server import OPENAPI, Server, cti, fuzz_server

schema = schemathesis.openapi.from_path(OPENAPI).include(path_regex="^/api/webhooks")
SECRET = "fuzz-known-subscription-secret"


def _subscribe(env: dict[str, str]) -> None:
    cti("webhook", "add", "http://127.0.0.1:9/hook", "--events", "all", "--secret", SECRET, env=env)


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("webhooks-api")
    with fuzz_server(home, scopes="read,write,admin", prepare=_subscribe) as server:
        yield server


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
