"""``keystead serve`` on the embedded SQLite database runs one provisioning worker beside
the web workers: an operation queued there reaches slapd with no second command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.serving import keystead_serve, migrated_env
from sources.ldap.slapd import Slapd

from .helpers import binds, ldap_entries

pytestmark = [pytest.mark.slow]
PASSWORD = "Served-Worker-Pass-5170"

# Run with the served instance's environment: a system on slapd, one account queued.
_QUEUE = """
import json, sys, django
django.setup()
from keystead.provisioning import services
from keystead.provisioning.models import System
from keystead.secret import Secret
settings, bind_password = json.loads(sys.argv[1]), sys.argv[2]
system = System(name="served-ldap", connector="ldap", settings=settings)
system.set_secrets({"bind_password": Secret(bind_password)})
system.save()
services.queue_account_creation(system, "served", attributes={"cn": "Served", "sn": "S"},
                                password=Secret(sys.argv[3]))
"""


def _queue(env: dict[str, str], server: Slapd, base: str) -> None:
    settings = {"url": server.ldap_url, "bind_dn": server.root_dn, "base_dn": base}
    done = subprocess.run([sys.executable, "-c", _QUEUE, json.dumps(settings),
                           server.root_password, PASSWORD],
                          env={**env, "DJANGO_SETTINGS_MODULE": "keystead.settings"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_serve_on_sqlite_provisions_without_a_second_command(
        tmp_path: Path, prov_slapd: Slapd, accounts_ou: str) -> None:
    env = migrated_env(tmp_path)
    _queue(env, prov_slapd, accounts_ou)
    dn = f"uid=served,{accounts_ou}"
    with keystead_serve(tmp_path, workers=1, env=env) as served:
        deadline = time.monotonic() + 60
        while dn not in ldap_entries(prov_slapd, accounts_ou):
            assert time.monotonic() < deadline, served.log()
            time.sleep(0.2)
        assert "Provisioning worker started" in served.stdout()
        [worker] = _provisioning_workers(served.proc.pid)
    assert not Path(f"/proc/{worker}").exists()  # stopped with the server
    assert binds(prov_slapd, dn, PASSWORD)
    assert PASSWORD not in served.log()


def _provisioning_workers(pid: int) -> list[int]:
    """The ``keystead worker`` children of the server process ``pid``."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children
            if b"worker\0--id" in Path(f"/proc/{child}/cmdline").read_bytes()]


def test_the_worker_beside_serve_can_be_turned_off(tmp_path: Path) -> None:
    env = {**migrated_env(tmp_path), "KEYSTEAD_SERVE_PROVISIONING_WORKER": "false"}
    with keystead_serve(tmp_path, workers=1, env=env) as served:
        assert _provisioning_workers(served.proc.pid) == []
    assert "Provisioning worker started" not in served.stdout()
