"""An independent SCIM 2.0 server for the connector tests: ``scim2-server`` from PyPI.

It keeps its Users in memory; each test gets a fresh server process on a
free port, started with a bearer token, so counts on it are exact.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from keystead.provisioning.connectors.scim import ScimConnector
from keystead.secret import Secret

SERVER = Path(sys.executable).with_name("scim2-server")


@dataclass(frozen=True)
class ScimServer:
    url: str
    token: str

    def users(self) -> list[dict]:
        answer = httpx.get(f"{self.url}/Users", params={"count": 1000},
                           headers={"Authorization": f"Bearer {self.token}"})
        answer.raise_for_status()
        return answer.json().get("Resources") or []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scim_server() -> Iterator[ScimServer]:
    token = secrets.token_urlsafe(16)
    port = _free_port()
    # "--bearer-token=…" in one word: a token starting with "-" would read as an option.
    process = subprocess.Popen([str(SERVER), "--hostname", "127.0.0.1", "--port", str(port),
                                f"--bearer-token={token}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = ScimServer(url=f"http://127.0.0.1:{port}/v2", token=token)
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"scim2-server exited: {process.stderr.read().decode()}")
            try:
                httpx.get(f"{server.url}/ServiceProviderConfig", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def scim(scim_server: ScimServer) -> Iterator[ScimConnector]:
    connector = ScimConnector({"url": scim_server.url},
                              {"bearer_token": Secret(scim_server.token)})
    try:
        yield connector
    finally:
        connector.close()
