"""The one settings object: defaults, then a TOML file, then CTI_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    """Every setting, with a default that serves a typical Asterisk. Documented in README."""

    #: SQLAlchemy URL of the database; SQLite file by default, e.g. postgresql+asyncpg://cti@db/cti
    database_url: str = "sqlite+aiosqlite:///cti.db"
    #: Asterisk Manager Interface host, port and credentials (manager.conf)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "cti"
    ami_secret: str = field(default="", repr=False)
    #: a file holding the AMI secret (first line), instead of CTI_AMI_SECRET
    ami_secret_file: str = ""
    #: seconds between keepalive Pings; a Ping unanswered for ami_ping_timeout drops the link
    ami_ping_interval: float = 10.0
    ami_ping_timeout: float = 5.0
    ami_connect_timeout: float = 5.0
    #: reconnect backoff: first delay and cap, seconds (exponential, with jitter)
    ami_reconnect_min: float = 0.5
    ami_reconnect_max: float = 30.0
    #: largest AMI frame accepted, bytes; bigger frames are dropped and counted
    ami_max_frame_bytes: int = 1_048_576
    #: HTTP server for the console, API and websockets
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    #: Redis for several processes (empty: one process, in-process bus)
    redis_url: str = ""
    #: region for reading national numbers (8 916 ... in RU is +7 916 ...)
    default_region: str = "RU"
    #: office time zone (IANA)
    timezone: str = "Europe/Moscow"
    #: glob patterns of endpoint names that are trunks (PJSIP/trunk-0001 -> "trunk")
    trunk_endpoints: tuple[str, ...] = ("trunk*",)
    #: glob patterns of endpoint names that are agents' phones
    agent_endpoints: tuple[str, ...] = ("[0-9][0-9]", "[0-9][0-9][0-9]", "[0-9][0-9][0-9][0-9]")
    #: channel variables that carry the DID when the trunk's Exten does not (e.g. exten "s")
    did_variables: tuple[str, ...] = ("CTI_DID", "FROM_DID", "__FROM_DID")
    #: an abandon within this many seconds of waiting is a short abandon
    short_abandon_seconds: float = 5.0
    #: tokens that may use the API and console (comma-separated); a file with one per line
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    api_tokens_file: str = ""
    #: run database migrations when `cti serve` starts (off for multi-node: run `cti db upgrade`)
    auto_migrate: bool = True
    #: log level and format ("text" or "json")
    log_level: str = "INFO"
    log_format: str = "text"

    def secret(self) -> str:
        """The AMI secret, from the environment/TOML or from ami_secret_file."""
        if self.ami_secret_file:
            try:
                return (
                    Path(self.ami_secret_file).read_text(encoding="utf-8").splitlines()[0].strip()
                )
            except (OSError, IndexError) as exc:
                raise SettingsError(
                    f"cannot read the AMI secret from ami_secret_file={self.ami_secret_file!r}: "
                    f"{exc.__class__.__name__}; check the path and permissions"
                ) from None
        return self.ami_secret

    def tokens(self) -> frozenset[str]:
        found = set(t for t in self.api_tokens if t)
        if self.api_tokens_file:
            try:
                text = Path(self.api_tokens_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise SettingsError(
                    f"cannot read api_tokens_file={self.api_tokens_file!r}: {exc.strerror}"
                ) from None
            found.update(line.strip() for line in text.splitlines() if line.strip())
        return frozenset(found)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_SECRET_FIELDS = {"ami_secret", "api_tokens"}


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read settings: defaults < TOML file (`config_path`, else ./cti.toml if present) < CTI_*."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = Path(config_path) if config_path else Path(env.get("CTI_CONFIG", "cti.toml"))
    if config_path or path.exists():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"config file {str(path)!r} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        values.update(_flatten(data))
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings)}
    for key in list(values):
        if key not in known:
            raise SettingsError(
                f"unknown setting {key!r} in {str(path)!r}; known settings: {', '.join(sorted(known))}"
            )
    for name in known:
        raw = env.get("CTI_" + name.upper())
        if raw is not None:
            values[name] = raw
    typed = {name: _coerce(name, hints[name], value) for name, value in values.items()}
    return Settings(**typed)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """[ami] host = ... in TOML is the same as ami_host = ..."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, prefix=f"{name}_"))
        else:
            out[name] = value
    return out


def _coerce(name: str, hint: Any, value: Any) -> Any:
    shown = "***" if name in _SECRET_FIELDS else repr(value)
    try:
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
        if hint is bool:
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if hint == tuple[str, ...]:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            return tuple(str(v) for v in value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {name} has value {shown}, which is not a valid {hint}"
        ) from None
