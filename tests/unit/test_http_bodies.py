"""Hostile JSON bodies: whole bodies or 413, and 400 (never 500) for what json.loads chokes on."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from web import bodies, customers_api
from web.errors import problem_middleware


def _app() -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=64 * 1024 * 1024)

    async def echo(request: web.Request) -> web.Response:
        body = await bodies.read_json(request, customers_api.MAX_JSON)
        return web.json_response({"size": len(json.dumps(body))})

    app.router.add_post("/echo", echo)
    return app


async def _post(aiohttp_client: Any, data: bytes, **kw: Any) -> tuple[int, dict[str, Any]]:
    client = await aiohttp_client(_app())
    response = await client.post("/echo", data=data, **kw)
    return response.status, await response.json(content_type=None)


async def _chunks(data: bytes, size: int = 1000):  # type: ignore[no-untyped-def]
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_a_chunked_body_is_read_whole(aiohttp_client: Any) -> None:
    items = [{"name": "x" * 50, "n": i} for i in range(20000)]  # about 1.3 MB
    raw = json.dumps(items).encode()
    status, body = await _post(aiohttp_client, _chunks(raw))  # type: ignore[arg-type]
    assert status == 200, body
    assert body["size"] == len(json.dumps(items))


async def test_a_body_over_the_limit_is_413_naming_it(
    aiohttp_client: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(customers_api, "MAX_JSON", 1000)
    status, body = await _post(aiohttp_client, _chunks(b"[" + b"1," * 2000 + b"1]"))  # type: ignore[arg-type]
    assert status == 413
    assert "1000 bytes" in body["detail"]


async def test_deep_nesting_is_400(aiohttp_client: Any) -> None:
    status, body = await _post(aiohttp_client, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    assert "deep" in body["detail"]


async def test_a_huge_integer_is_400(aiohttp_client: Any) -> None:
    status, body = await _post(aiohttp_client, b'{"n": 1' + b"0" * 5000 + b"}")
    assert status == 400
    assert "number too long" in body["detail"]


async def test_a_lone_surrogate_is_400(aiohttp_client: Any) -> None:
    status, body = await _post(aiohttp_client, b'{"name": "\\ud800"}')
    assert status == 400
    assert "surrogate" in body["detail"]
    assert body["detail"].startswith("name")


async def test_a_surrogate_pair_is_fine(aiohttp_client: Any) -> None:
    status, _ = await _post(aiohttp_client, b'{"name": "\\ud83d\\ude00"}')
    assert status == 200
