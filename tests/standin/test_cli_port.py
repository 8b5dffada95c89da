"""`python -m spapi_standin` and `make demo` on a port that is taken: one line, exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from testkit import REPO

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_the_standin_on_a_taken_port_says_so_in_one_line(taken_port):
    command = [sys.executable, "-m", "spapi_standin", "--port", str(taken_port), "--size", "tiny"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"spapi-standin could not listen on port {taken_port}: Address already in use"
    )
    assert "Traceback" not in result.stderr


def test_the_demo_on_a_taken_port_names_another(taken_port):
    command = [sys.executable, "scripts/demo.py", "--port", str(taken_port)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"port {taken_port}" in line and "make demo DEMO_PORT=" in line


def test_the_demo_points_meltano_at_its_port(monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import demo  # scripts/ is not a package
    finally:
        sys.path.remove(str(REPO / "scripts"))
    seen: dict[str, str] = {}
    monkeypatch.setattr(demo.subprocess, "run", lambda *a, env, **k: seen.update(env))
    demo.meltano("meltano", 8799, "run", "tap-spapi", "target-duckdb")
    assert seen["TAP_SPAPI_API_URL"] == "http://127.0.0.1:8799"
    assert seen["TAP_SPAPI_LWA_TOKEN_URL"] == "http://127.0.0.1:8799/auth/o2/token"
