"""``keystead ldap sync`` against a real slapd: the report table and the exit status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from keystead.cli import main
from keystead.directory.models import User
from keystead.sources.ldap.models import LdapSource

from .bulk import BulkSlapd, person_dn, person_ldif, start_bulk_slapd, stop_bulk_slapd
from .slapd import free_port
from .test_sync import source_for


@pytest.fixture
def server() -> Iterator[BulkSlapd]:
    server = start_bulk_slapd(6, 2, extra_ldif=person_ldif(50, family=None))
    try:
        yield server
    finally:
        stop_bulk_slapd(server)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["ldap", "sync", *args], env={"COLUMNS": "250"},
                              catch_exceptions=False)


@pytest.mark.django_db
def test_sync_prints_the_report(server: BulkSlapd) -> None:
    source_for(server)
    result = run("--full")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0] == "Full sync of Bulk directory", result.output
    assert any("│ Created " in line and "│ 6 " in line for line in lines), result.output
    assert any("│ Groups created " in line and "│ 2 " in line for line in lines)
    refused = next(line for line in lines if person_dn(50) in line)
    assert "no sn (mapped to family name)" in refused
    assert User.objects.filter(source="ldap").count() == 6

    again = run()  # incremental: nothing changed since the full pass
    assert again.exit_code == 0
    assert "Incremental sync of Bulk directory" in again.output.splitlines()[:2]


@pytest.mark.django_db
def test_sync_fails_when_the_directory_cannot_be_read(server: BulkSlapd) -> None:
    source_for(server, port=free_port())
    result = run("--source", "Bulk directory")
    assert result.exit_code == 1
    assert "Error: the directory could not be read" in result.output
    assert "could not be reached" in result.output
    assert LdapSource.objects.get().sync_cursor == ""


@pytest.mark.django_db
def test_sync_names_an_unknown_source() -> None:
    result = run("--source", "Nowhere")
    assert result.exit_code == 2
    assert "--source: no LDAP source is named 'Nowhere'" in result.output


@pytest.mark.django_db
def test_periodic_sync_needs_sync_mode(server: BulkSlapd) -> None:
    source_for(server, mode="read_only")
    result = run("--every")
    assert result.exit_code == 2
    assert "not in sync mode or its sync interval is 0" in result.output
