"""`cti user` and `cti token` as an administrator runs them: real processes, real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cti(
    *args: str, db: str, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTI_DATABASE_URL": db, **(extra_env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """SQLite: the store itself is tested on PostgreSQL too (test_auth_store.py)."""
    return f"sqlite:///{tmp_path / 'cti.db'}"


def test_user_add_list_disable(db: str) -> None:
    added = cti(
        "user",
        "add",
        "petrova",
        "--role",
        "supervisor",
        "--name",
        "Мария Петрова",
        db=db,
        stdin="a long enough password\n",
    )
    assert added.returncode == 0, added.stderr
    assert "petrova (supervisor)" in added.stdout and "a long enough password" not in added.stdout
    again = cti("user", "add", "petrova", db=db, stdin="another long password\n")  # role kept
    assert again.returncode == 0 and "(supervisor)" in again.stdout
    listed = cti("user", "list", "--json", db=db)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows == [
        {
            "login": "petrova",
            "name": "Мария Петрова",
            "role": "supervisor",
            "extensions": [],
            "can_sign_in": True,
            "disabled": False,
        }
    ]
    disabled = cti("user", "disable", "petrova", db=db)
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    assert "disabled" in cti("user", "list", db=db).stdout


def test_user_add_refuses_weak_passwords_unknown_agents_and_bad_logins(db: str) -> None:
    weak = cti("user", "add", "ivanov", "--role", "agent", db=db, stdin="short\n")
    assert weak.returncode == 2 and "at least 8 characters" in weak.stderr
    no_role = cti("user", "add", "ivanov", db=db, stdin="a long enough password\n")
    assert no_role.returncode == 2 and "give --role" in no_role.stderr
    bad = cti(
        "user",
        "add",
        "Robert'); DROP TABLE agents;--",
        "--role",
        "agent",
        db=db,
        stdin="a long enough password\n",
    )
    assert bad.returncode == 2 and "not valid" in bad.stderr
    wrong_role = cti(
        "user", "add", "ivanov", "--role", "root", db=db, stdin="a long enough password\n"
    )
    assert wrong_role.returncode == 2 and "invalid choice" in wrong_role.stderr


def test_token_create_prints_the_token_last_and_stores_only_its_hash(db: str) -> None:
    assert (
        cti(
            "user", "add", "crm", "--role", "agent", db=db, stdin="a long enough password\n"
        ).returncode
        == 0
    )
    created = cti(
        "token", "create", "crm", "--scope", "read", "--scope", "write", "--name", "shop", db=db
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("cti_") and len(token) > 40
    listed = cti("token", "list", "--json", db=db)
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["login"] == "crm" and row["scopes"] == ["read", "write"] and row["name"] == "shop"
    assert token not in listed.stdout and token not in cti("token", "list", db=db).stdout
    revoked = cti("token", "revoke", str(row["id"]), db=db)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert cti("token", "revoke", str(row["id"]), db=db).returncode == 2


def test_token_errors_say_what_to_do(db: str) -> None:
    nobody = cti("token", "create", "nobody", db=db)
    assert nobody.returncode == 2 and "cti user add nobody" in nobody.stderr
    assert (
        cti(
            "user", "add", "crm", "--role", "agent", db=db, stdin="a long enough password\n"
        ).returncode
        == 0
    )
    bad_scope = cti("token", "create", "crm", "--scope", "everything", db=db)
    assert bad_scope.returncode == 2 and "known scopes: read, write, admin" in bad_scope.stderr


def test_auth_commands_have_help() -> None:
    for command in (
        ["user", "--help"],
        ["user", "add", "--help"],
        ["token", "create", "--help"],
        ["token", "list", "--help"],
        ["token", "revoke", "--help"],
        ["user", "disable", "--help"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "cti.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0 and "usage: cti" in out.stdout, command


def test_password_never_appears_in_output_or_logs(db: str) -> None:
    secret = "Пароль-that-must-not-leak"
    out = cti(
        "user",
        "add",
        "ivanov",
        "--role",
        "admin",
        db=db,
        stdin=secret + "\n",
        extra_env={"CTI_LOG_LEVEL": "DEBUG"},
    )
    assert out.returncode == 0 and secret not in out.stdout + out.stderr
