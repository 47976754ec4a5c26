"""keystead serve, for real: gunicorn in a subprocess on a fresh SQLite database."""

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read().decode()


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return get(url)
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"keystead serve exited early with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_serve_answers_http_and_stops_cleanly(tmp_path):
    env = {
        **os.environ,
        "KEYSTEAD_DATABASE_URL": f"sqlite:///{tmp_path / 'keystead.sqlite3'}",
        "KEYSTEAD_DATA_DIR": str(tmp_path / "data"),
        "KEYSTEAD_BASE_URL": "http://127.0.0.1:8000",
    }
    migrated = subprocess.run([sys.executable, "-m", "keystead", "migrate"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    assert "Applied" in migrated.stdout

    port = free_port()
    log_path = tmp_path / "serve.log"
    keystead = Path(sys.executable).with_name("keystead")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(keystead), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            status, body = wait_for(f"http://127.0.0.1:{port}/healthz", proc)
            assert (status, body) == (200, '{"status": "ok"}')
            status, page = get(f"http://127.0.0.1:{port}/login/")
            assert status == 200
            assert "<form" in page and "csrfmiddlewaretoken" in page
            # An application's Basic credentials: the access line names the client, never
            # the secret.
            basic = base64.b64encode(b"app-client-id:Secret-Never-Logged-7").decode()
            assert get(f"http://127.0.0.1:{port}/healthz",
                       {"Authorization": f"Basic {basic}"})[0] == 200

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert f"Keystead is serving on http://127.0.0.1:{port}/" in output
    assert '"GET /login/ HTTP/1.1" 200' in output  # the access log
    assert ' - app-client-id [' in output and '"GET /healthz HTTP/1.1" 200' in output
    leaked = "Secret-Never-Logged-7" in output or basic in output
    assert not leaked, "the client secret reached the serve log"  # not printed on failure
    assert "Traceback" not in output
