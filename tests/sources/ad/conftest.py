"""Fixtures for the Active Directory tests: one Samba AD DC for the test run.

The DC's address and ports are fixed, so every test process of the run
(each xdist worker) shares the same server (``samba.shared_samba``). The
tests are in the ``samba`` xdist group as well, and each changes only the
people it owns, so sharing is safe.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .samba import Samba, shared_samba


@pytest.fixture(scope="session")
def samba() -> Iterator[Samba]:
    with shared_samba() as server:
        yield server
