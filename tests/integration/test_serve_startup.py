"""`cti serve` refuses to start on what it cannot do: a FastAGI port that is taken, a misspelt
setting; the message names the problem and what to change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "CTI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cti.db",
        "CTI_HTTP_PORT": str(free_port()),
        "CTI_AGI_PORT": str(free_port()),
        "CTI_AMI_PORT": str(free_port()),  # nothing there: AMI reconnects in the background
        "CTI_API_TOKENS": "a-token-for-the-start-up-test",
    }
    return subprocess.run(
        [sys.executable, "-m", "cti.cli", "serve"],
        capture_output=True,
        text=True,
        env={**os.environ, **base, **env},
        cwd=tmp_path,
        timeout=50,
        check=False,
    )


def test_a_taken_fastagi_port_stops_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = serve(tmp_path, CTI_AGI_PORT=str(port))
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"cti serve: FastAGI cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "set agi_port" in out.stderr
    assert "cti serving on" not in out.stdout  # never announced as ready


def test_a_taken_http_port_stops_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = serve(tmp_path, CTI_HTTP_PORT=str(port))
    assert out.returncode == 2
    assert (
        f"cannot listen on http://127.0.0.1:{port}/" in out.stderr and "Traceback" not in out.stderr
    )


def test_a_misspelt_setting_stops_serve_naming_key_value_and_choices(tmp_path: Path) -> None:
    ture = serve(tmp_path, CTI_AUTO_MIGRATE="ture")
    assert ture.returncode == 2
    assert "setting auto_migrate has value 'ture': use true or false" in ture.stderr
    near = serve(tmp_path, CTI_AUTO_MIGRAT="false")
    assert near.returncode == 2 and "did you mean CTI_AUTO_MIGRATE?" in near.stderr
    (tmp_path / "cti.toml").write_text('[http]\nprot = 8080\n[log]\nformat = "text"\n')
    toml = serve(tmp_path)
    assert toml.returncode == 2 and "unknown setting 'http_prot'" in toml.stderr
    assert "did you mean http_port?" in toml.stderr
    (tmp_path / "cti.toml").unlink()
    zone = serve(tmp_path, CTI_TIMEZONE="Moscow")
    assert zone.returncode == 2 and "timezone has value 'Moscow'" in zone.stderr
    lang = serve(tmp_path, CTI_LANGUAGE="de")
    assert lang.returncode == 2 and "language has value 'de': use ru, en" in lang.stderr
    assert not (tmp_path / "cti.db").exists()  # stopped before touching the database
