"""Fixtures for the LDAP source tests: one real slapd per test session (per xdist
worker), and one per module for the modules that lock accounts and change passwords."""

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


@pytest.fixture(scope="module")
def directory() -> Iterator[Slapd]:
    """A slapd of the module's own: its tests lock accounts, use up grace sign-ins, add
    people and change passwords, which must not reach other modules."""
    server = start_slapd()
    try:
        yield server
    finally:
        stop_slapd(server)


@pytest.fixture(autouse=True)
def fresh_pools() -> Iterator[None]:
    """Each test starts without pooled connections (a test may change the source)."""
    yield
    from keystead.sources.ldap import pool

    pool.close_all()
