"""The embedded SQLite database holds a small team's morning rush: no "database is locked".

A real ``keystead serve`` with three workers on a fresh SQLite file, sixty people
signing in at the same moment (the right password, so each sign-in writes its
audit event, ``last_login`` and session).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .helpers_live import csrf_token, live_keystead, post_sign_in, server_env

pytestmark = pytest.mark.slow
PEOPLE = 60
PASSWORD = "Vellum-Orchid-Tapestry-42"
CREATE_PEOPLE = f"""
import django
django.setup()
from keystead.directory.models import User
from django.contrib.auth.hashers import make_password
hashed = make_password({PASSWORD!r})
User.objects.bulk_create([User(email=f"p{{i}}@example.com", username=f"p{{i}}",
                               given_name="Pat",
                               family_name=f"Person{{i}}", password=hashed)
                          for i in range({PEOPLE})])
"""


def test_sixty_concurrent_sign_ins_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'keystead.sqlite3'}"
    env = {**server_env(url, tmp_path / "data", "http://127.0.0.1:8000"),
           "DJANGO_SETTINGS_MODULE": "keystead.settings"}
    keystead = Path(sys.executable).with_name("keystead")
    subprocess.run([str(keystead), "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", CREATE_PEOPLE], env=env, check=True,
                   capture_output=True)
    barrier = threading.Barrier(PEOPLE)

    def sign_in(base: str, i: int) -> int:
        with httpx.Client(timeout=120) as client:
            token = csrf_token(client, base)
            barrier.wait(timeout=120)
            return post_sign_in(client, base, token, f"p{i}@example.com", PASSWORD).status_code

    with live_keystead(url, tmp_path, workers=3) as server, ThreadPoolExecutor(PEOPLE) as pool:
        statuses = list(pool.map(lambda i: sign_in(server.base, i), range(PEOPLE)))
    assert statuses == [302] * PEOPLE, sorted(set(statuses))
