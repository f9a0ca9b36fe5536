"""The server's callback owner comes from the directory (manager) and from routing (the manager's
state, the duty operator on shift): the account manager at lunch hands the callback to duty."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from cti.app import miss_context
from cti.config import Settings
from cti.db.directory import seed_demo
from cti.db.migrate import upgrade
from cti.db.session import create_engine, session_factory
from cti.routing.model import AgentState, Presence

IVAN = "+79161234567"  # demo customer whose manager is 101


def routing(state: AgentState, duty: str | None) -> Any:
    shifts = [(SimpleNamespace(login=duty), None)] if duty else []
    return SimpleNamespace(
        presence={"101": Presence(state, "lunch" if state is AgentState.PAUSED else "")},
        options=SimpleNamespace(default_state=AgentState.AVAILABLE),
        on_duty=lambda at: shifts,
    )


async def test_owner_follows_the_managers_state_and_the_rota(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        await seed_demo(sessions)
        at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
        cases = [
            (routing(AgentState.AVAILABLE, "199"), ("101", True, "199")),
            (routing(AgentState.PAUSED, "199"), ("101", False, "199")),
            (routing(AgentState.OFFLINE, None), ("101", False, None)),
            (None, ("101", True, None)),  # cti replay --store: no live states
        ]
        for service, (manager, available, duty) in cases:
            context = miss_context(Settings(), sessions, lambda s=service: s)
            got = await context(IVAN, at)
            assert (got.owner.manager_login, got.owner.manager_available, got.owner.duty_login) == (
                manager,
                available,
                duty,
            )
            assert got.customer_id is not None
        unknown = await miss_context(
            Settings(), sessions, lambda: routing(AgentState.AVAILABLE, "199")
        )("+79990000000", at)
        assert (unknown.customer_id, unknown.owner.manager_login, unknown.owner.duty_login) == (
            None,
            None,
            "199",
        )
    finally:
        await engine.dispose()
