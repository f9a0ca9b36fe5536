"""Users, sessions and tokens stored in SQLite and PostgreSQL, through the AuthService."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from cti.auth.passwords import PasswordRejected, fast_passwords
from cti.auth.principal import Role, Scope, Via
from cti.auth.service import AuthService, LoginRefused, LoginThrottled, UnknownUser
from cti.auth.sessions import SessionPolicy
from cti.auth.sql import SqlAuthStore
from cti.auth.throttle import Lockout, LoginThrottle
from cti.db import migrate
from cti.db.auth_models import ApiToken, Credential, SessionRow
from cti.db.models import Agent
from cti.db.session import create_engine, session_factory

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[object]:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def service(db: object, clock: Clock, **kw: object) -> AuthService:
    kw.setdefault("sessions", SessionPolicy(cache_seconds=0))
    return AuthService(
        store=SqlAuthStore(session_factory=db),  # type: ignore[arg-type]
        passwords=fast_passwords(),
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


async def test_user_add_creates_the_agent_and_a_hashed_password(db: object) -> None:
    clock = Clock()
    auth = service(db, clock)
    await auth.add_user("petrova", role=Role.SUPERVISOR, password=PASSWORD, name="Мария Петрова")
    async with db() as s:  # type: ignore[operator]
        agent = await s.scalar(select(Agent).where(Agent.login == "petrova"))
        cred = await s.get(Credential, "petrova")
    assert agent.role == "supervisor" and agent.name == "Мария Петрова"
    assert cred.password_hash.startswith("$argon2id$") and PASSWORD not in cred.password_hash
    assert not hasattr(Agent, "password_hash")  # secrets stay out of the directory
    from cti.db.directory_models import AuditRow

    async with db() as s:  # type: ignore[operator]
        audit = (await s.scalars(select(AuditRow).where(AuditRow.entity_key == "petrova"))).all()
    assert [(a.action, a.actor) for a in audit] == [
        ("create", "cti user add")
    ]  # the directory's log

    signed = await auth.sign_in("petrova", PASSWORD, address="192.0.2.1")
    assert signed.principal.role is Role.SUPERVISOR and signed.principal.via is Via.SESSION
    assert (await auth.session(signed.session_token)) == signed.principal
    async with db() as s:  # type: ignore[operator]
        stored = (await s.scalars(select(SessionRow))).all()
    assert len(stored) == 1 and stored[0].token_hash != signed.session_token


async def test_user_add_again_updates_role_and_password_and_ends_old_sessions(db: object) -> None:
    clock = Clock()
    auth = service(db, clock)
    await auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
    old = await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    await auth.add_user("ivanov", role=Role.ADMIN, password="a new long password")
    assert await auth.session(old.session_token) is None
    with pytest.raises(LoginRefused):
        await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    signed = await auth.sign_in("ivanov", "a new long password", address="192.0.2.1")
    assert signed.principal.role is Role.ADMIN
    with pytest.raises(PasswordRejected):
        await auth.add_user("ivanov", role=Role.ADMIN, password="short")
    with pytest.raises(ValueError, match="not valid"):
        await auth.add_user("bad login", role=Role.ADMIN, password=PASSWORD)


async def test_an_agents_principal_carries_their_extensions(db: object) -> None:
    async with db() as s, s.begin():  # type: ignore[operator]
        s.add(
            Agent(
                login="sidorov",
                name="Sidorov",
                role="agent",
                extension="101",
                device="PJSIP/sidorov",
            )
        )
    auth = service(db, Clock())
    await auth.add_user("sidorov", role=Role.AGENT, password=PASSWORD)
    signed = await auth.sign_in("sidorov", PASSWORD, address="192.0.2.1")
    assert signed.principal.extensions == frozenset({"101", "sidorov"})
    async with db() as s:  # type: ignore[operator]
        agent = await s.scalar(select(Agent).where(Agent.login == "sidorov"))
    assert agent.extension == "101"  # user add kept the directory's phone


async def test_sessions_survive_a_restart_expire_and_end_at_logout(db: object) -> None:
    clock = Clock()
    auth = service(db, clock, sessions=SessionPolicy(ttl=3600, cache_seconds=0))
    await auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
    first = await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    second = await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    restarted = service(db, clock, sessions=SessionPolicy(ttl=3600, cache_seconds=0))
    assert (await restarted.session(first.session_token)).login == "ivanov"
    await restarted.sign_out(first.session_token)
    assert await auth.session(first.session_token) is None
    clock.now += 3601
    assert await auth.session(second.session_token) is None
    assert await auth.purge() == 0  # the expired one was removed when it was seen


async def test_disabled_user_cannot_sign_in_and_loses_sessions_and_tokens(db: object) -> None:
    auth = service(db, Clock())
    await auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
    signed = await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    _, token = await auth.create_token("ivanov", scopes=frozenset({Scope.READ}))
    assert await auth.disable_user("ivanov") == 1
    assert await auth.session(signed.session_token) is None
    assert await auth.bearer(token) is None
    with pytest.raises(LoginRefused):
        await auth.sign_in("ivanov", PASSWORD, address="192.0.2.1")
    with pytest.raises(UnknownUser):
        await auth.disable_user("nobody")
    assert [(u.login, u.disabled) for u in await auth.users()] == [("ivanov", True)]


async def test_api_tokens_are_hashed_scoped_touched_and_revocable(db: object) -> None:
    clock = Clock()
    auth = service(db, clock)
    await auth.add_user("crm", role=Role.SUPERVISOR, password=PASSWORD)
    record, token = await auth.create_token(
        "crm", name="shop backend", scopes=frozenset({Scope.READ, Scope.WRITE})
    )
    principal = await auth.bearer(token)
    assert principal is not None and principal.via is Via.TOKEN
    assert principal.scopes == {Scope.READ, Scope.WRITE} and principal.role is Role.SUPERVISOR
    async with db() as s:  # type: ignore[operator]
        row = await s.get(ApiToken, record.id)
    assert row.token_hash != token and token not in row.token_hash and row.last_used_at is not None
    assert await auth.bearer(token + "x") is None
    assert await auth.revoke_token(record.id)
    assert not await auth.revoke_token(record.id)
    assert await auth.bearer(token) is None
    assert [t.revoked_at is not None for t in await auth.tokens("crm")] == [True]
    with pytest.raises(UnknownUser):
        await auth.create_token("nobody")


async def test_wrong_passwords_lock_the_login_and_unknown_logins_look_the_same(db: object) -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, per_login=Lockout(free_failures=3, base_delay=30))
    auth = service(db, clock, throttle=throttle)
    await auth.add_user("ivanov", role=Role.AGENT, password=PASSWORD)
    for n in range(4):
        with pytest.raises(LoginRefused) as refused:
            await auth.sign_in("ivanov", f"guess {n}", address=f"198.51.100.{n}")
        assert str(refused.value) == "wrong login or password"
    with pytest.raises(LoginThrottled) as throttled:
        await auth.sign_in("ivanov", PASSWORD, address="203.0.113.9")  # even the right one
    assert throttled.value.retry_after == 30
    with pytest.raises(LoginRefused) as unknown:
        await auth.sign_in("no-such-user", "whatever1", address="203.0.113.9")
    assert str(unknown.value) == "wrong login or password"
    clock.now += 31
    assert (
        await auth.sign_in("ivanov", PASSWORD, address="203.0.113.9")
    ).principal.login == "ivanov"


async def test_break_glass_token_is_an_admin_and_can_open_a_session(db: object) -> None:
    auth = service(db, Clock(), break_glass_tokens=("a-long-break-glass-token-123",))
    principal = await auth.bearer("a-long-break-glass-token-123")
    assert (
        principal is not None and principal.role is Role.ADMIN and principal.via is Via.BREAK_GLASS
    )
    signed = await auth.sign_in_with_token("a-long-break-glass-token-123", address="192.0.2.1")
    via_cookie = await auth.session(signed.session_token)
    assert (
        via_cookie is not None and via_cookie.role is Role.ADMIN and via_cookie.via is Via.SESSION
    )
    with pytest.raises(LoginRefused):
        await auth.sign_in_with_token("guess", address="192.0.2.1")


async def test_an_agent_lists_only_calls_they_took_part_in(db: object) -> None:
    import dataclasses

    from cti.calls.model import CallRecord, Direction, Outcome
    from cti.db.calls import CallRepository

    base = CallRecord(
        linkedid="x",
        direction=Direction.INBOUND,
        caller="+79161234567",
        caller_e164="+79161234567",
        caller_name="",
        did="74950000000",
        agents_rung=(),
        answered_by=(),
        outcome=Outcome.ANSWERED,
        missed_kind=None,
        short_abandon=False,
        started_at=1_764_000_000.0,
        answered_at=None,
        ended_at=1_764_000_060.0,
        wait_seconds=1.0,
        talk_seconds=59.0,
    )
    calls = [
        dataclasses.replace(
            base, linkedid="rang-101", agents_rung=("101", "102"), answered_by=("102",)
        ),
        dataclasses.replace(
            base,
            linkedid="answered-101",
            agents_rung=("101",),
            answered_by=("101",),
            started_at=1_764_000_001.0,
        ),
        dataclasses.replace(
            base,
            linkedid="placed-101",
            direction=Direction.OUTBOUND,
            caller="101",
            started_at=1_764_000_002.0,
        ),
        dataclasses.replace(
            base,
            linkedid="ext-1010",
            agents_rung=("1010",),
            answered_by=("1010",),
            started_at=1_764_000_003.0,
        ),
        dataclasses.replace(
            base, linkedid="inbound-from-101", caller="101", started_at=1_764_000_004.0
        ),
        dataclasses.replace(
            base, linkedid="quote", agents_rung=('1"0%1',), started_at=1_764_000_005.0
        ),
    ]
    repo = CallRepository(session_factory=db)  # type: ignore[arg-type]
    await repo.save_many(calls)
    mine = await repo.list_calls(newest_first=True, involving={"101"})
    assert [c.linkedid for c in mine] == ["placed-101", "answered-101", "rang-101"]
    assert [c.linkedid for c in await repo.list_calls(involving={'1"0%1'})] == ["quote"]
    assert await repo.list_calls(involving=set()) == []
    assert len(await repo.list_calls(limit=2, newest_first=True, involving={"101", "1010"})) == 2
