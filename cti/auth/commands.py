"""`cti user` and `cti token`: people who sign in, and bearer tokens for scripts."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from cti.auth.passwords import PasswordRejected
from cti.auth.principal import Role, Scope
from cti.auth.service import AuthService, UnknownUser
from cti.auth.tokens import DEFAULT_SCOPES, parse_scopes
from cti.config import Settings

T = TypeVar("T")
_ROLES = [r.value for r in Role]
_SCOPES = [s.value for s in Scope]


def add_parsers(sub: Any) -> None:
    u = sub.add_parser("user", help="people who sign in to the console: add, list, disable")
    usub = u.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = usub.add_parser(
        "add",
        help="create or update a user (the agent with this login) and set the password from stdin",
        description="Creates the agent with this login (or updates an existing one, e.g. "
        "imported by CSV) with the role given, and sets their password: typed twice on a "
        "terminal, else the first line of standard input. Ends the user's other sessions.",
    )
    add.add_argument("login")
    add.add_argument("--role", choices=_ROLES, help="required for a new user; default: keep")
    add.add_argument("--name", help="display name (a new user's default: the login)")
    lst = usub.add_parser("list", help="every person in the directory and whether they can sign in")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    dis = usub.add_parser("disable", help="no more sign-ins or tokens; ends the user's sessions")
    dis.add_argument("login")

    t = sub.add_parser("token", help="bearer tokens for integrations and scripts")
    tsub = t.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tsub.add_parser(
        "create",
        help="create a token for LOGIN; the token is printed on the last line, only this once",
        description="Send it as 'Authorization: Bearer TOKEN' to the API and the /ws handshake. "
        "The database keeps only its SHA-256. Scopes: read (default), write, admin "
        "(admin counts only for administrators).",
    )
    create.add_argument("login")
    create.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help=f"one of {', '.join(_SCOPES)} (repeatable, or comma-separated)",
    )
    create.add_argument("--name", default="", help="what the token is for, e.g. 'shop backend'")
    tl = tsub.add_parser(
        "list", help="tokens (never the tokens themselves): id, owner, scopes, use"
    )
    tl.add_argument("login", nargs="?")
    tl.add_argument("--json", action="store_true", help="one JSON object per line")
    rv = tsub.add_parser("revoke", help="revoke a token by its id (see `cti token list`)")
    rv.add_argument("id", type=int)


async def _with_auth(settings: Settings, work: Callable[[AuthService], Awaitable[T]]) -> T:
    from cti.auth.setup import auth_service
    from cti.db.migrate import upgrade
    from cti.db.session import create_engine, session_factory

    if settings.auto_migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    auth = auth_service(settings, session_factory(engine))
    try:
        return await work(auth)
    finally:
        await auth.access.close()
        await engine.dispose()


def read_password(login: str) -> str:
    """Twice on a terminal; otherwise the first line of stdin (scripts: `echo ... | cti user add`)."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"New password for {login}: ")
        if getpass.getpass("Repeat it: ") != first:
            raise PasswordRejected("the two passwords differ")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _fail(message: str) -> int:
    print(f"cti: {message}", file=sys.stderr)
    return 2


async def user_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.user_command == "add":
        return await _user_add(args, settings)
    if args.user_command == "disable":
        try:
            ended = await _with_auth(settings, lambda auth: auth.disable_user(args.login))
        except UnknownUser as exc:
            return _fail(str(exc))
        print(f"user {args.login} disabled; {ended} session(s) ended")
        return 0
    users = await _with_auth(settings, lambda auth: auth.users())
    for u in users:
        if args.json:
            row = {
                "login": u.login,
                "name": u.name,
                "role": u.role.value,
                "extensions": sorted(u.extensions),
                "can_sign_in": u.has_password and not u.disabled,
                "disabled": u.disabled,
            }
            print(json.dumps(row, ensure_ascii=False))
        else:
            status = "disabled" if u.disabled else ("active" if u.has_password else "no password")
            exts = ",".join(sorted(u.extensions)) or "-"
            print(f"{u.login:<20} {u.role.value:<10} {status:<11} {exts:<12} {u.name}")
    if not users and not args.json:
        print("no users yet: cti user add LOGIN --role admin", file=sys.stderr)
    return 0


async def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    async def add(auth: AuthService) -> str:
        role = Role(args.role) if args.role else None
        if role is None:
            existing = await auth.store.person(args.login)
            if existing is None:
                raise UnknownUser(
                    f"no agent {args.login!r} yet: give --role ({'|'.join(_ROLES)}) to create one"
                )
            role = existing.role
        password = read_password(args.login)
        person = await auth.add_user(args.login, role=role, password=password, name=args.name)
        return f"user {person.login} ({person.role.value}) saved; password set"

    try:
        print(await _with_auth(settings, add))
    except (UnknownUser, PasswordRejected, ValueError) as exc:
        return _fail(str(exc))
    return 0


async def token_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.token_command == "create":
        try:
            scopes = parse_scopes(args.scopes) if args.scopes else DEFAULT_SCOPES
            record, token = await _with_auth(
                settings,
                lambda auth: auth.create_token(args.login, name=args.name, scopes=scopes),
            )
        except (UnknownUser, ValueError) as exc:
            return _fail(str(exc))
        shown = ",".join(sorted(s.value for s in record.scopes))
        print(f"token #{record.id} for {record.login} (scopes: {shown}); it is shown only once:")
        print(token)
        return 0
    if args.token_command == "revoke":
        if await _with_auth(settings, lambda auth: auth.revoke_token(args.id)):
            print(f"token #{args.id} revoked")
            return 0
        return _fail(f"no active token #{args.id} (see `cti token list`)")
    records = await _with_auth(settings, lambda auth: auth.tokens(args.login))
    for r in records:
        if args.json:
            print(json.dumps(r.to_json(), ensure_ascii=False))
            continue
        state = "revoked " + _when(r.revoked_at) if r.revoked_at else "active"
        used = _when(r.last_used_at) if r.last_used_at else "never"
        shown = ",".join(sorted(s.value for s in r.scopes))
        print(f"#{r.id:<4} {r.login:<20} {shown:<17} {state:<28} used {used:<20} {r.name}")
    if not records and not args.json:
        print("no tokens", file=sys.stderr)
    return 0


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


COMMANDS = {"user": user_command, "token": token_command}

__all__ = ["COMMANDS", "add_parsers", "read_password"]
