"""Schemathesis against a real `cti serve` (a process on a port, SQLite, a bearer token from
`cti token create`): no request the OpenAPI description allows makes the server fail (5xx),
responses match their documented status codes and shapes, and no secret reaches the log."""

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

from tests.fuzz_server import OPENAPI, PASSWORD, Server, fuzz_server

schema = schemathesis.openapi.from_path(OPENAPI)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with fuzz_server(tmp_path_factory.mktemp("api"), scopes="read,write") as server:
        yield server


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
