"""Helpers for driving a lasso SP (``lasso_sp.py``, run by the system Python) and
reading Keystead's answers."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

from django.test import Client

SYSTEM_PYTHON = "/usr/bin/python3"
LASSO_SP = Path(__file__).with_name("lasso_sp.py")
PASSWORD = "Quartz-Lantern-Meadow-58"


def lasso(directory: Path, *args: str, ok: bool = True) -> dict:
    """Run one lasso_sp.py command; its JSON answer (``error`` set when lasso refused)."""
    done = subprocess.run([SYSTEM_PYTHON, str(LASSO_SP), "--dir", str(directory), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout, done.stderr
    answer = json.loads(done.stdout)
    if ok:
        assert "error" not in answer, answer
    return answer


def make_key_pair(directory: Path, name: str) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", f"/CN={name}", "-keyout", str(directory / "sp-key.pem"),
                    "-out", str(directory / "sp-cert.pem")], check=True, capture_output=True)


@dataclass
class LassoSp:
    directory: Path
    entity_id: str
    acs: str
    application: object

    def refresh_idp_metadata(self, client: Client) -> str:
        xml = client.get("/saml/metadata").content.decode()
        (self.directory / "idp.xml").write_text(xml)
        return xml

    def request(self, binding: str, relay_state: str = "", acs_url: str = "",
                *flags: str) -> dict:
        args = ["request", binding] + (["--relay-state", relay_state] if relay_state else [])
        args += ["--acs-url", acs_url] if acs_url else []
        return lasso(self.directory, *args, *flags)

    def read(self, saml_response: str, ok: bool = True) -> dict:
        return lasso(self.directory, "response", saml_response, ok=ok)


def posted_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of Keystead's auto-posting SAML form."""
    action = unescape(re.search(r'<form id="saml-post" method="post" action="([^"]+)"',
                                html).group(1))
    fields = {unescape(n): unescape(v) for n, v in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)}
    return action, fields


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
