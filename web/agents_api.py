"""HTTP edge of agents: list and read for everyone signed in; changes for administrators."""

from __future__ import annotations

from aiohttp import web

from cti.auth.policy import require
from cti.customers import access
from web.auth import principal_of
from web.customers_api import DIRECTORY, domain_errors, json_body, limit_of, reply

_LOGIN = r"{login:[A-Za-z0-9][A-Za-z0-9._@-]{0,63}}"


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/agents", list_agents)
    r.add_post("/api/agents", create_agent)
    r.add_get(f"/api/agents/{_LOGIN}", get_agent)
    r.add_put(f"/api/agents/{_LOGIN}", replace_agent)
    r.add_patch(f"/api/agents/{_LOGIN}", patch_agent)
    r.add_delete(f"/api/agents/{_LOGIN}", delete_agent)
    r.add_get(f"/api/agents/{_LOGIN}/history", agent_history)


def _admin(request: web.Request) -> str:
    principal = principal_of(request)
    require(access.may_change_agents(principal), "only administrators change agents")
    return principal.login


@domain_errors
async def list_agents(request: web.Request) -> web.Response:
    """GET /api/agents: every agent, by login."""
    return reply({"agents": await request.app[DIRECTORY].agents.listing()})


@domain_errors
async def get_agent(request: web.Request) -> web.Response:
    return reply(await request.app[DIRECTORY].agents.get(request.match_info["login"]))


@domain_errors
async def create_agent(request: web.Request) -> web.Response:
    """POST /api/agents: 201 with the agent; 409 if the login exists."""
    actor = _admin(request)
    body = await json_body(request, "agent")
    agent, _ = await request.app[DIRECTORY].agents.save(None, body, actor=actor)
    return reply(agent, status=201, headers={"Location": f"/api/agents/{agent['login']}"})


@domain_errors
async def replace_agent(request: web.Request) -> web.Response:
    """PUT /api/agents/{login}: every field as given; the login cannot change."""
    actor = _admin(request)
    body = await json_body(request, "agent")
    agent, _ = await request.app[DIRECTORY].agents.save(
        request.match_info["login"], body, actor=actor
    )
    return reply(agent)


@domain_errors
async def patch_agent(request: web.Request) -> web.Response:
    actor = _admin(request)
    body = await json_body(request, "agent.patch")
    agent, _ = await request.app[DIRECTORY].agents.save(
        request.match_info["login"], body, actor=actor, partial=True
    )
    return reply(agent)


@domain_errors
async def delete_agent(request: web.Request) -> web.Response:
    """DELETE /api/agents/{login}: 409 while the agent is a customer's responsible manager."""
    actor = _admin(request)
    await request.app[DIRECTORY].agents.delete(request.match_info["login"], actor=actor)
    return web.Response(status=204, headers={"Cache-Control": "no-store"})


@domain_errors
async def agent_history(request: web.Request) -> web.Response:
    entries = await request.app[DIRECTORY].agents.history(
        request.match_info["login"], limit=limit_of(request, 100)
    )
    return reply({"history": entries})


__all__ = ["add_routes"]
