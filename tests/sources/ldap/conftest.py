"""Fixtures for the LDAP source tests: one real slapd per test session (per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .slapd import Slapd, start_slapd, stop_slapd


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    server = start_slapd()
    try:
        yield server
    finally:
        stop_slapd(server)
