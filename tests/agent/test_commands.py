"""`keystead-agent status`, `diagnose` and `reset-password`, and the socket's rule that a
caller who is not root may only converse about its own account."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from keystead.devices.models import Device

from .conftest import enrolled, keystead_person
from .helpers import local_user, pamtester, run_agent, running_daemon
from .test_pam_sign_in import unique

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("agent")]

# What a program of the person's would send over the socket (run as that person).
ASK_ABOUT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((json.dumps({"type": "begin", "user": sys.argv[2], "service": "probe"}) + "\\n").encode())
print(s.makefile().readline().strip())
"""


def test_status_diagnose_and_reset(keystead, tmp_path):
    password = unique("Status")
    with (local_user(password) as name, local_user(unique("Other")) as stranger,
          enrolled(keystead, tmp_path, "store") as setup):
        keystead_person(name, password)
        with running_daemon(setup):
            assert pamtester(setup.keystead_service, name, password).ok
            status = run_agent(setup.config, "status")
            assert status.returncode == 0, status.stderr
            assert f"server:      {keystead.base}" in status.stdout
            assert "mode:        store" in status.stdout
            assert "last check:  never" not in status.stdout

            diagnose = run_agent(setup.config, "diagnose")
            assert diagnose.returncode == 0, diagnose.stdout + diagnose.stderr
            assert "reachable:     yes" in diagnose.stdout
            assert "device key:    accepted" in diagnose.stdout
            assert "OIDC client:   " in diagnose.stdout and " accepted" in diagnose.stdout
            assert "clock skew:    " in diagnose.stdout and "(ok)" in diagnose.stdout
            assert f"sign-in user={name}" in diagnose.stdout
            assert password not in diagnose.stdout

            reset = run_agent(setup.config, "reset-password", "--user", name)
            assert reset.returncode == 0 and f"{keystead.base}/reset" in reset.stdout
            refused = run_agent(setup.config, "reset-password", "--user", stranger)
            assert refused.returncode == 1 and "passwd" in refused.stderr

        Device.objects.all().delete()  # as the console does: Keystead forgets the key
        forgotten = run_agent(setup.config, "diagnose")
        assert forgotten.returncode == 1
        assert ('device key:    Keystead says (401 not_enrolled): "the request is not signed '
                'by an enrolled computer: enrol again (or, if Keystead was just upgraded, '
                'upgrade the agent to the same version)"') in forgotten.stdout, forgotten.stdout

        setup.change(server="http://127.0.0.1:9")
        offline = run_agent(setup.config, "diagnose")
        assert offline.returncode == 1
        assert "reachable:     NO" in offline.stdout
        assert "MISSING: is the daemon running?" in offline.stdout


def test_a_person_may_only_ask_about_their_own_account(keystead, tmp_path):
    with (local_user(unique("A")) as alice, local_user(unique("B")) as bob,
          enrolled(keystead, tmp_path, "do-not-store") as setup):
        where = Path(tempfile.mkdtemp(prefix="keystead-sock-"))
        where.chmod(0o755)
        try:
            setup.change(socket=str(where / "agent.sock"))
            with running_daemon(setup):
                def ask(about: str) -> dict:
                    run = subprocess.run(["runuser", "-u", alice, "--", "/usr/bin/python3",
                                          "-c", ASK_ABOUT, str(where / "agent.sock"), about],
                                         capture_output=True, text=True, timeout=60)
                    assert run.returncode == 0, run.stderr
                    return json.loads(run.stdout)

                assert ask(bob)["type"] == "denied"
                assert ask(alice)["type"] == "ask-password"
        finally:
            shutil.rmtree(where, ignore_errors=True)
