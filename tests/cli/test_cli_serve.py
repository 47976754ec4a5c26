"""keystead serve, for real: the production server in a subprocess on a fresh SQLite database."""

import base64
import http.client
import signal
import socket
import subprocess
import time

import pytest

from serve_process import serve_process

from .serving import get, keystead_serve, migrated_env


@pytest.mark.slow
def test_serve_answers_http_and_stops_cleanly(tmp_path):
    with keystead_serve(tmp_path, workers=2) as served:
        base = f"http://127.0.0.1:{served.port}"
        status, body = get(f"{base}/healthz")
        assert (status, body) == (200, '{"status": "ok"}')
        status, page = get(f"{base}/login/")
        assert status == 200
        assert "<form" in page and "csrfmiddlewaretoken" in page
        # An application's Basic credentials are never written to the log.
        basic = base64.b64encode(b"app-client-id:Secret-Never-Logged-7").decode()
        assert get(f"{base}/healthz", {"Authorization": f"Basic {basic}"})[0] == 200
        served.wait_for_output('"GET /login/ HTTP/1.1" 200')  # the access log
        served.wait_for_output('"GET /healthz HTTP/1.1" 200', count=3)

        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=60) == 0
    output = served.log()
    assert f"Keystead is serving on http://127.0.0.1:{served.port}/ (granian, 2 workers)" in output
    assert "Public address (KEYSTEAD_BASE_URL): http://127.0.0.1:8000/" in output
    leaked = "Secret-Never-Logged-7" in output or basic in output
    assert not leaked, "the client secret reached the serve log"  # not printed on failure
    assert "Traceback" not in output


@pytest.mark.slow
def test_serve_listens_on_a_unix_socket(tmp_path):
    """``--bind unix:/path``: the socket answers HTTP."""
    path = tmp_path / "web.sock"
    env = migrated_env(tmp_path)
    with ((tmp_path / "serve.log").open("w") as log,
          serve_process(f"unix:{path}", 1, env, stdout=log, stderr=subprocess.STDOUT) as proc):
        deadline = time.monotonic() + 60
        while True:
            try:
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(str(path))
                break
            except OSError:
                sock.close()
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "nothing listens on the socket"
                time.sleep(0.2)
        conn = http.client.HTTPConnection("localhost")
        conn.sock = sock
        conn.request("GET", "/healthz", headers={"Host": "127.0.0.1:8000"})
        assert conn.getresponse().status == 200
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert f"Keystead is serving on unix:{path} (granian, 1 worker)" in (
        tmp_path / "serve.log").read_text()


def test_a_worker_passes_no_keystead_variable_into_requests(tmp_path):
    """granian builds each request's WSGI environ (Django's request.META) from a copy of
    the worker's os.environ: the secret key and the database URL must not be in it."""
    import sys

    env = {**migrated_env(tmp_path), "KEYSTEAD_SECRET_KEY": "Secret-Key-Never-In-Meta-0123456789"}
    script = ("import os\n"
              "from granian.wsgi import _callback_wrapper\n"
              "from keystead.cli.serve import worker_application\n"
              "seen = {}\n"
              "def app(environ, respond):\n"
              "    seen.update(environ)\n"
              "    return []\n"
              "assert worker_application() is not None\n"
              "class Proto:\n"
              "    def response_bytes(self, *args): pass\n"
              "_callback_wrapper(app, {})(Proto(), {'PATH_INFO': '/'})\n"
              "print(sorted(k for k in seen if k.startswith('KEYSTEAD_')))\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
