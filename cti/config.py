"""The one settings object: defaults, then a TOML file, then CTI_* environment variables."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    """Every setting, with a default that serves a typical Asterisk. Documented in README."""

    #: SQLAlchemy URL of the database; SQLite file by default, e.g. postgresql+asyncpg://cti@db/cti
    database_url: str = "sqlite+aiosqlite:///cti.db"
    #: PostgreSQL only, seconds (0 = off): a statement running longer is cancelled; a statement
    #: waiting longer for a lock gives up (the writer keeps its calls and retries); a session idle
    #: inside an open transaction (a paused or hung process) is ended and its locks released
    database_statement_timeout: float = 30.0
    database_lock_timeout: float = 10.0
    database_idle_in_transaction_timeout: float = 15.0
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
    #: seconds an HTTP connection may stay silent or half-sent (request line/headers dribbled in,
    #: slowloris) before it is closed, and how long an idle keep-alive connection is kept
    http_idle_timeout: float = 15.0
    #: Redis for several processes (empty: one process, in-process bus): the /ws feed's journal
    #: (Redis Streams), fan-out (pub/sub) and the lease of the process that publishes call events
    redis_url: str = ""
    #: prefix of every Redis key and channel cti uses (several installations can share a Redis)
    redis_prefix: str = "cti:"
    #: with Redis, one process at a time consumes AMI: it holds a lease this many seconds past
    #: each renewal; a standby takes over within about this long after the holder dies
    lease_seconds: float = 3.0
    #: ...renewed (and, by standbys, tried) this often, seconds
    lease_renew_seconds: float = 0.75
    #: finished calls kept in memory while the database is away; beyond, calls are dropped
    #: (logged as critical, counted in cti_calls_dropped_total, /health/ready fails)
    call_buffer_limit: int = 100_000
    #: a live call with no AMI event for this many seconds is closed as of its last event (its
    #: Hangup was lost)
    call_max_idle: float = 21_600.0
    #: ...and a phantom call (never seen created nor listed by a resync, nobody connected in it)
    #: after this many seconds without an event; 0 treats it like any other call
    phantom_call_max_idle: float = 600.0
    #: a reconnecting /ws client gets what it missed from a log of this many messages per login
    ws_resume_messages: int = 200
    #: ...kept this many seconds (also how long a closed feed's login still gets live calls)
    ws_resume_seconds: float = 120.0
    #: messages waiting for one slow client before it is closed (1013) and must resume
    ws_queue_size: int = 256
    #: a screen-pop waits at most this long (seconds) for the customer card, then pops the number
    pop_card_timeout: float = 1.5
    #: dialplan context of click-to-call (AMI Originate: the agent's phone, then this context)
    originate_context: str = "from-internal"
    #: region for reading national numbers (8 916 ... in RU is +7 916 ...)
    default_region: str = "RU"
    #: office time zone (IANA): exports, reports and the CLI show times in it
    timezone: str = "Europe/Moscow"
    #: language of exports and command output when a request or `--lang` does not say (ru, en)
    language: str = "ru"
    #: glob patterns of endpoint names that are trunks (PJSIP/trunk-0001 -> "trunk")
    trunk_endpoints: tuple[str, ...] = ("trunk*",)
    #: glob patterns of endpoint names that are agents' phones
    agent_endpoints: tuple[str, ...] = ("[0-9][0-9]", "[0-9][0-9][0-9]", "[0-9][0-9][0-9][0-9]")
    #: channel variables that carry the DID when the trunk's Exten does not (e.g. exten "s")
    did_variables: tuple[str, ...] = ("CTI_DID", "__CTI_DID", "FROM_DID", "__FROM_DID")
    #: an abandon within this many seconds of waiting is a short abandon
    short_abandon_seconds: float = 5.0
    #: a missed call must be called back within this many minutes (moved into the window)
    callback_sla_minutes: float = 5.0
    #: reports: a call answered after at most this many seconds of waiting is within service level
    report_service_level_seconds: float = 20.0
    #: business hours in the customer's own time zone when callbacks are due ("HH:MM-HH:MM")
    callback_window: str = "09:00-21:00"
    #: who owns a callback when there is no account manager and no duty operator (a login)
    callback_default_owner: str = ""
    #: someone calling a customer back keeps colleagues off the callback this many minutes
    callback_hold_minutes: float = 10.0
    #: tokens that may use the API and console (comma-separated); a file with one per line
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    api_tokens_file: str = ""
    #: a console session ends this many hours after login (or at logout)
    session_hours: float = 12.0
    #: ...or after this many minutes without a request (0: never for idleness)
    session_idle_minutes: float = 0.0
    #: Secure flag of the session cookie: "auto" (on for HTTPS, directly or via a trusted
    #: proxy's X-Forwarded-Proto), "true" or "false"
    cookie_secure: str = "auto"
    #: proxies (addresses or networks) whose X-Forwarded-For/-Proto headers are believed
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    #: origins (scheme://host[:port]) besides the server's own host that may open /ws and post forms
    allowed_origins: tuple[str, ...] = ()
    #: run database migrations when `cti serve` starts (off for multi-node: run `cti db upgrade`)
    auto_migrate: bool = True
    #: FastAGI server the dialplan asks where to route a call (agi://HOST:PORT/route); 0: off
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    #: addresses or networks FastAGI accepts connections from; empty: loopback and ami_host
    agi_allowed_sources: tuple[str, ...] = ()
    #: FastAGI sessions open at once; a connection beyond it is closed at once
    agi_max_sessions: int = 256
    #: DID rules NUMBER=TEAM, first match wins (a number in any format, or a glob like 7495*)
    routing_did_rules: tuple[str, ...] = ()
    #: team for calls to every other DID ("": all agents)
    routing_default_team: str = ""
    #: ring timeouts in seconds per step, KIND=SECONDS (manager, manager_mobile, vip_senior,
    #: distribution, duty); unnamed steps keep their defaults (20, 25, 20, 15, 30)
    routing_ring_timeouts: tuple[str, ...] = ()
    #: dial string of a manager's mobile (follow-me): {digits} = E.164 without +, {e164}
    routing_follow_me_dial: str = "Local/{digits}@cti-followme"
    #: the mailbox the chain ends in (the VoiceMail() argument); empty: no voicemail step
    routing_voicemail: str = "100@default"
    #: at most this many agents are offered by the VIP step and by the distribution step
    routing_max_agents: int = 3
    #: agents with at least this seniority serve VIP customers
    routing_vip_min_seniority: int = 1
    #: the state of an agent who never set one (available, paused, dnd, offline)
    routing_default_state: str = "available"
    #: also distribute known customers whose manager is away (default: duty operator)
    routing_distribute_known: bool = False
    #: reload agents, their states and the rota from the database this often (seconds)
    routing_refresh_seconds: float = 5.0
    #: a caller lookup slower than this (seconds) routes the call as from an unknown caller
    routing_lookup_timeout: float = 0.5
    #: what a line does outside its business hours: LINE=RULE, LINE a DID, a team or *, RULE
    #: duty (the duty operator, then voicemail), voicemail, or announcement[:SOUND]
    routing_after_hours: tuple[str, ...] = ("*=duty",)
    #: set agents available when their shift starts and offline when it ends
    shifts_set_state: bool = False
    #: "open in CRM" link of customers without their own crm_url: {external_id}, {id} or {phone}
    #: (empty: only customers' own links), e.g. https://crm.example/customers/{external_id}
    crm_url_template: str = ""
    #: link to a call's recording (MixMonitor): {file} (name), {path} (as given), {linkedid};
    #: e.g. https://pbx.example/recordings/{file} (empty: no links)
    recording_url_template: str = ""
    #: which customers agents see: all, team (managed by someone of their teams) or own (those
    #: they manage or created, and those who called them); supervisors and admins see every one
    agents_see: str = "all"
    #: the fields of their own customers agents may change (the others: supervisors and admins)
    agent_customer_fields: tuple[str, ...] = ("name", "company", "phones", "notes")
    #: an unknown caller gets a lead card (source auto, the caller ID name) on the first ring
    auto_customer_cards: bool = False
    #: a webhook receiver must answer within this many seconds
    webhook_timeout: float = 10.0
    #: webhook requests in flight at once, per process
    webhook_concurrency: int = 4
    #: first retry of a failed webhook after this many seconds, doubling (with jitter), up to an hour
    webhook_retry_first_seconds: float = 10.0
    #: ...until this many hours after the event; then the delivery is marked failed
    webhook_retry_hours: float = 24.0
    #: the delivery log keeps finished deliveries this many days
    webhook_log_days: float = 30.0
    #: log level and format ("text" or "json")
    log_level: str = "INFO"
    log_format: str = "text"

    def secret(self) -> str:
        """The AMI secret, from the environment/TOML or from ami_secret_file."""
        if self.ami_secret_file:
            try:
                path = Path(self.ami_secret_file)
                if path.stat().st_mode & 0o077:
                    log.warning(
                        "ami_secret_file %s can be read by other users: chmod 600 it",
                        self.ami_secret_file,
                    )
                return path.read_text(encoding="utf-8").splitlines()[0].strip()
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

    def callback_hours(self) -> tuple[time, time]:
        """`callback_window` as (start, end) times."""
        try:
            start, end = (
                time.fromisoformat(part.strip()) for part in self.callback_window.split("-")
            )
        except ValueError:
            raise SettingsError(
                f"callback_window={self.callback_window!r} is not HH:MM-HH:MM, e.g. 09:00-21:00"
            ) from None
        if start >= end:
            raise SettingsError(
                f"callback_window={self.callback_window!r} must start before it ends"
            )
        return start, end

    def secure_cookie_mode(self) -> bool | None:
        """`cookie_secure` as True, False, or None for "auto"."""
        mode = self.cookie_secure.strip().lower()
        if mode == "auto":
            return None
        if mode in ("1", "true", "yes", "on"):
            return True
        if mode in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"cookie_secure={self.cookie_secure!r}: use auto, true or false")

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
                f"unknown setting {key!r} in {str(path)!r}{_did_you_mean(key, known)}; "
                f"known settings: {', '.join(sorted(known))}"
            )
    for variable in env:
        # CTI_* is also the dialplan's prefix (CTI_TARGET_1...) and the tests' (CTI_TEST_...):
        # only a near miss of a setting's name is a typo worth stopping for
        name = variable[4:].lower() if variable.startswith("CTI_") else ""
        if name and name not in known and variable not in _NOT_SETTINGS:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            if close:
                value = "***" if close[0] in _SECRET_FIELDS else repr(env[variable])
                raise SettingsError(
                    f"unknown setting {variable}={value} in the environment "
                    f"(did you mean CTI_{close[0].upper()}?)"
                )
    for name in known:
        raw = env.get("CTI_" + name.upper())
        if raw is not None:
            values[name] = raw
    typed = {name: _coerce(name, hints[name], value) for name, value in values.items()}
    settings = Settings(**typed)
    check(settings)
    return settings


#: CTI_* environment variables that are not settings
_NOT_SETTINGS = frozenset({"CTI_CONFIG", "CTI_LISTEN_TOKEN"})

_CHOICES: dict[str, tuple[str, ...]] = {
    "language": ("ru", "en"),
    "log_format": ("text", "json"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    "routing_default_state": ("available", "paused", "dnd", "offline"),
    "cookie_secure": ("auto", "true", "false"),
}


def _did_you_mean(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def check(settings: Settings) -> None:
    """Values a type alone does not rule out: a choice from a list, a time zone, ports, the
    callback window. The message names the setting, the value and what is allowed."""
    for name, allowed in _CHOICES.items():
        value = getattr(settings, name)
        folded = value.upper() if name == "log_level" else value.lower()
        if folded not in allowed:
            raise SettingsError(f"setting {name} has value {value!r}: use {', '.join(allowed)}")
    try:
        ZoneInfo(settings.timezone)
    except (KeyError, ValueError):
        raise SettingsError(
            f"setting timezone has value {settings.timezone!r}: use an IANA time zone, "
            "e.g. Europe/Moscow"
        ) from None
    for name in ("http_port", "ami_port", "agi_port"):
        port = getattr(settings, name)
        if not 0 <= port <= 65535:
            raise SettingsError(f"setting {name} has value {port}: use a port from 1 to 65535")
    settings.callback_hours()


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
            word = str(value).strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"setting {name} has value {shown}: use true or false")
        if hint == tuple[str, ...]:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            return tuple(str(v) for v in value)
        return str(value)
    except SettingsError:
        raise
    except (TypeError, ValueError):
        wanted = {int: "a whole number", float: "a number"}.get(hint, str(hint))
        raise SettingsError(f"setting {name} has value {shown}: use {wanted}") from None
