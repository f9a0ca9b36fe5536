"""Pure auth rules: who sees which call and message, scopes, lockouts, tokens, passwords."""

from __future__ import annotations

import pytest

from cti.auth import policy
from cti.auth.passwords import PasswordRejected, check_new_password, fast_passwords
from cti.auth.principal import ALL_SCOPES, Principal, Role, Scope, Via, valid_login
from cti.auth.throttle import Lockout, LoginThrottle, TokenBucket, address_key
from cti.auth.tokens import new_api_token, parse_scopes, token_hash


def person(role: Role, *exts: str, login: str = "ivanov", scopes=ALL_SCOPES) -> Principal:
    return Principal(
        login=login, role=role, via=Via.SESSION, scopes=scopes, extensions=frozenset(exts)
    )


AGENT_101 = person(Role.AGENT, "101")
SUPERVISOR = person(Role.SUPERVISOR, login="boss")

INBOUND_RINGING = {
    "direction": "inbound",
    "caller": "+79161234567",
    "agents_ringing": ["101", "102"],
    "answered_by": [],
}
INBOUND_ENDED = {
    "direction": "inbound",
    "caller": "101",
    "agents_rung": ["102"],
    "answered_by": ["102"],
}
OUTBOUND_BY_101 = {
    "direction": "outbound",
    "caller": "101",
    "agents_ringing": [],
    "answered_by": [],
}
INTERNAL_103_TO_102 = {
    "direction": "internal",
    "caller": "103",
    "agents_ringing": ["102"],
    "answered_by": [],
}


def test_an_agent_sees_calls_that_ring_them_or_that_they_placed() -> None:
    assert policy.may_see_call(AGENT_101, INBOUND_RINGING)
    assert policy.may_see_call(AGENT_101, OUTBOUND_BY_101)
    assert not policy.may_see_call(AGENT_101, INTERNAL_103_TO_102)
    # an inbound caller that happens to present "101" is not our agent 101
    assert not policy.may_see_call(AGENT_101, INBOUND_ENDED)
    assert policy.may_see_call(person(Role.AGENT, "102"), INBOUND_ENDED)


def test_an_agent_without_a_phone_sees_no_call_and_supervisors_see_all() -> None:
    nobody = person(Role.AGENT)
    assert not any(policy.may_see_call(nobody, c) for c in (INBOUND_RINGING, OUTBOUND_BY_101))
    assert all(policy.may_see_call(SUPERVISOR, c) for c in (INBOUND_RINGING, INTERNAL_103_TO_102))
    assert policy.visible_extensions(SUPERVISOR) is None
    assert policy.visible_extensions(AGENT_101) == frozenset({"101"})


def test_messages_for_one_person_reach_only_them_and_unknown_kinds_are_denied() -> None:
    pop = {"type": "pop.show", "agent": "ivanov", "call": INTERNAL_103_TO_102}
    assert policy.may_receive(AGENT_101, pop)
    assert not policy.may_receive(person(Role.AGENT, "101", login="petrov"), pop)
    assert not policy.may_receive(AGENT_101, {"type": "agent.state", "agents": []})
    assert policy.may_receive(SUPERVISOR, {"type": "agent.state", "agents": []})
    assert policy.may_receive(AGENT_101, {"type": "call.live", "call": INBOUND_RINGING})
    assert not policy.may_receive(AGENT_101, {"type": "call.live", "call": "101"})


def test_own_callbacks_and_figures_only() -> None:
    assert policy.may_see_agent_data(AGENT_101, "ivanov")
    assert not policy.may_see_agent_data(AGENT_101, "petrov")
    assert not policy.may_see_agent_data(AGENT_101, None)
    assert policy.may_see_agent_data(SUPERVISOR, "petrov")


def test_only_admins_change_configuration_and_scopes_narrow_a_token() -> None:
    assert policy.may_change_configuration(person(Role.ADMIN))
    assert not policy.may_change_configuration(SUPERVISOR)
    assert not policy.may_change_configuration(person(Role.AGENT, "101"))
    read_only_admin = person(Role.ADMIN, scopes=frozenset({Scope.READ}))
    assert not policy.may_change_configuration(read_only_admin)
    assert policy.may_use(read_only_admin, Scope.READ)
    assert not policy.may_use(read_only_admin, Scope.WRITE)
    with pytest.raises(policy.Denied, match="configuration"):
        policy.require(policy.may_change_configuration(SUPERVISOR), "changing configuration")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_login_lockout_grows_exponentially_and_is_capped() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        clock=clock, per_login=Lockout(free_failures=3, base_delay=2, max_delay=60)
    )
    waits = [throttle.failed("ivanov", f"10.0.0.{n}") for n in range(10)]
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert throttle.retry_after("ivanov", "10.9.9.9") == 60  # another address: still locked
    assert throttle.retry_after("petrov", "10.9.9.9") == 0
    clock.now += 61
    assert throttle.retry_after("IVANOV ", "10.9.9.9") == 0  # case and spaces do not dodge it


def test_one_address_trying_many_logins_is_locked_and_success_clears() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, per_address=Lockout(free_failures=2, base_delay=1))
    for n in range(3):
        throttle.failed(f"user{n}", "192.0.2.7")
    assert throttle.retry_after("someone-else", "192.0.2.7") > 0
    assert throttle.retry_after("someone-else", "192.0.2.8") == 0
    throttle.succeeded("user9", "192.0.2.7")
    assert throttle.retry_after("someone-else", "192.0.2.7") == 0


def test_failures_are_forgotten_after_a_quiet_hour_and_memory_is_bounded() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_keys=100)
    for _ in range(4):
        throttle.failed("ivanov", "192.0.2.1")
    clock.now += 3601
    for _ in range(4):
        assert throttle.failed("ivanov", "192.0.2.1") == 0
    for n in range(1000):
        throttle.failed(f"spray{n}", f"198.51.{n // 250}.{n % 250}")
    assert len(throttle) <= 100


def test_ipv6_clients_are_counted_per_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("not an ip") == "not an ip"


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5
    assert [bucket.take() for _ in range(2)] == [True, False]


def test_tokens_are_random_prefixed_and_stored_as_sha256() -> None:
    a, b = new_api_token(), new_api_token()
    assert a != b and a.startswith("cti_") and len(a) >= 40
    assert len(token_hash(a)) == 64 and a not in token_hash(a)


def test_scopes_parse_and_unknown_scope_is_an_error() -> None:
    assert parse_scopes(["read,write", " admin "]) == ALL_SCOPES
    with pytest.raises(ValueError, match="known scopes: read, write, admin"):
        parse_scopes(["delete"])


def test_password_hashes_are_argon2id_and_verify() -> None:
    passwords = fast_passwords()
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse battery ")
    assert not passwords.verify(None, "correct horse battery")
    assert not passwords.verify("not a hash", "x")
    assert not passwords.verify(stored, "x" * 5000)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("ivanov", "at least 8"),
        ("Ivanov1234", None),
        ("x" * 2000, "at most"),
        ("ivanov.login", "not be the login"),
        (" padded pass ", "spaces"),
    ],
)
def test_password_policy(password: str, reason: str | None) -> None:
    if reason is None:
        check_new_password(password, login="ivanov")
        return
    with pytest.raises(PasswordRejected, match=reason):
        check_new_password(password, login="ivanov.login" if "login" in reason else "ivanov")


def test_logins() -> None:
    assert valid_login("ivanov") and valid_login("101") and valid_login("a.b-c_d@x")
    assert not valid_login("") and not valid_login("~api-token") and not valid_login("a b")
    assert not valid_login("x" * 65)
