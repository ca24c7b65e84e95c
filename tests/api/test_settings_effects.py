"""Settings that change what the server does: auth refused when not configurable, /metrics switchable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from spt_api.bootstrap import UnsupportedSettingError, build_backends
from spt_api.config import Settings
from spt_api.testing import start_server_thread


def test_auth_enabled_without_keycloak_or_session_secret_refuses_to_serve(tmp_path: Path) -> None:
    # Fail closed: auth asked for but not configurable must not become an open service.
    with pytest.raises(UnsupportedSettingError, match="needs SPT_API_KEYCLOAK_URL"):
        build_backends(Settings(data_dir=tmp_path, auth_enabled=True))
    with pytest.raises(UnsupportedSettingError, match="needs SPT_API_SESSION_SECRET, at least 32 characters"):
        build_backends(Settings(data_dir=tmp_path, auth_enabled=True, keycloak_url="http://127.0.0.1:1",
                                session_secret="short"))


def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    server = start_server_thread(Settings(data_dir=tmp_path, metrics_enabled=False, reconcile_interval=0))
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            assert client.get("/metrics").status_code == 404
            assert client.get("/health/live").status_code == 200
    finally:
        server.stop()


def test_serve_on_a_port_in_use_says_so_and_how_to_choose_another(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "spt_api", "serve", "--port", str(port)],
            env={**os.environ, "SPT_API_DATA_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert f"127.0.0.1:{port} is in use" in output and "SPT_API_PORT" in output
    assert "Traceback" not in output
