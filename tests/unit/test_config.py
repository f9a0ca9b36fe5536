"""Settings: defaults, TOML (flat or sectioned), CTI_* environment, clear errors, secrets kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.config import Settings, SettingsError, load_settings


def test_defaults_fit_a_typical_asterisk(tmp_path: Path) -> None:
    s = load_settings(environ={"CTI_CONFIG": str(tmp_path / "absent.toml")})
    assert (s.ami_host, s.ami_port, s.database_url, s.default_region) == (
        "127.0.0.1",
        5038,
        "sqlite+aiosqlite:///cti.db",
        "RU",
    )


def test_toml_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "cti.toml"
    cfg.write_text(
        'database_url = "postgresql://db/cti"\ntrunk_endpoints = ["trunk*", "sipnet*"]\n'
        '[ami]\nhost = "10.0.0.2"\nport = 5039\n',
        encoding="utf-8",
    )
    s = load_settings(cfg, environ={"CTI_AMI_PORT": "6000", "CTI_AGENT_ENDPOINTS": "1??, 2??"})
    assert s.ami_host == "10.0.0.2" and s.ami_port == 6000
    assert s.trunk_endpoints == ("trunk*", "sipnet*") and s.agent_endpoints == ("1??", "2??")


def test_secret_from_file_and_never_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("Пароль-123\n", encoding="utf-8")
    s = load_settings(
        environ={
            "CTI_AMI_SECRET_FILE": str(secret),
            "CTI_AMI_SECRET": "other",
            "CTI_CONFIG": str(tmp_path / "absent.toml"),
        }
    )
    assert s.secret() == "Пароль-123"
    assert "other" not in repr(s) and "Пароль" not in repr(s)
    with pytest.raises(SettingsError, match="ami_secret_file"):
        Settings(ami_secret_file=str(tmp_path / "missing")).secret()


def test_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ami_port"):
        load_settings(environ={"CTI_AMI_PORT": "x", "CTI_CONFIG": str(tmp_path / "absent.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("ami_host = \n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "none.toml", environ={})
