"""Where a command finds its data: `--database`, the settings file, or the `cti-demo.toml` a
running demo writes beside itself; a SQLite file that is not there is an error, not a new one."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

#: what `cti demo` writes in its directory: its database, ports and admin token, so that
#: `cti calls`, `cti listen` and the other commands run there read the demo's data
DEMO_SETTINGS = "cti-demo.toml"


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite URL (absolute), None for another database or an in-memory one."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if not url.get_backend_name().startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def shown(database_url: str) -> str:
    """The database as a person recognizes it: a file path, or the URL without a password."""
    path = sqlite_file(database_url)
    if path is not None:
        return str(path)
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return database_url


def missing_database(database_url: str, source: str) -> str | None:
    """Why a command that reads stored data cannot run here, or None if the database is there;
    `source` says where the URL came from ("from --database", "the default: ...")."""
    path = sqlite_file(database_url)
    if path is None or path.exists():
        return None
    return (
        f"no database at {path} (database_url {database_url!r}, {source}); "
        f"start `cti demo` or `cti serve` in this directory first, "
        "or say which database to read with --database URL or CTI_DATABASE_URL"
    )


def demo_settings_here(environ: Mapping[str, str] | None = None) -> Path | None:
    """The demo's settings file in the current directory, when no other settings file is."""
    env = os.environ if environ is None else environ
    if env.get("CTI_CONFIG") or Path("cti.toml").exists():
        return None
    path = Path(DEMO_SETTINGS)
    return path if path.is_file() else None


def write_demo_settings(path: Path, values: Mapping[str, Any], *, note: str) -> None:
    """`values` as TOML (strings, numbers and lists of strings), readable by the owner only:
    the file holds the demo's administrator token."""
    lines = [f"# {line}" for line in note.splitlines()]
    for key, value in values.items():
        lines.append(f"{key} = {_toml(value)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string is JSON's string
