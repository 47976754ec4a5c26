"""The SQL-table connector against real PostgreSQL and MariaDB tables."""

from __future__ import annotations

import pytest

from keystead.provisioning.connectors import ConnectorError, SettingsError
from keystead.provisioning.connectors.base import ENABLE, NAME, PASSWORD
from keystead.provisioning.connectors.sql import SqlConnector
from keystead.secret import Secret

from .helpers import sql_rows


def connector(url: str, table: str, **settings) -> SqlConnector:
    return SqlConnector({"url": url, "table": table, "key_column": "login",
                         "columns": {"name": "full_name", "mail": "email_address"},
                         "password_column": "pass", "enabled_column": "active", **settings},
                        {})


def test_create_is_an_upsert_and_the_password_goes_through_its_column(sql_table) -> None:
    url, table = sql_table
    target = connector(url, table)
    assert target.create("ada", {"name": "Ada Lovelace", "mail": "ada@example.test",
                                 PASSWORD: Secret("{SSHA}hashed-by-a-script")}) == "ada"
    target.create("ada", {"name": "Ada King", "mail": "ada@example.test",
                          PASSWORD: Secret("{SSHA}hashed-by-a-script")})
    rows = sql_rows(url, table)
    assert len(rows) == 1
    assert rows[0]["full_name"] == "Ada King"
    assert rows[0]["pass"] == "{SSHA}hashed-by-a-script"
    assert target.read("ada") == {"login": "ada", "full_name": "Ada King",
                                  "email_address": "ada@example.test", "active": True}
    target.close()


def test_update_password_disable_and_delete(sql_table) -> None:
    url, table = sql_table
    target = connector(url, table)
    target.create("alan", {"name": "Alan Turing"})
    target.update("alan", {PASSWORD: Secret("new-value"), ENABLE: False})
    target.update("alan", {PASSWORD: Secret("new-value"), ENABLE: False})  # same again: fine
    row = sql_rows(url, table)[0]
    assert (row["pass"], bool(row["active"])) == ("new-value", False)
    target.delete("alan")
    target.delete("alan")
    assert sql_rows(url, table) == []
    assert target.read("alan") is None


def test_updating_a_missing_row_is_a_permanent_error(sql_table) -> None:
    url, table = sql_table
    with pytest.raises(ConnectorError, match="no row with login = 'ghost'") as refused:
        connector(url, table).update("ghost", {"name": "Nobody"})
    assert refused.value.permanent


def test_schema_and_settings_errors(sql_table) -> None:
    url, table = sql_table
    columns = {a.name: a for a in connector(url, table).schema()}
    assert set(columns) == {"login", "full_name", "email_address", "pass", "active"}
    with pytest.raises(SettingsError, match="has no column 'surname' for attribute 'surname'"):
        connector(url, table).create("x", {"surname": "X"})
    with pytest.raises(SettingsError, match="has no column 'missing'"):
        connector(url, table, password_column="missing").test()
    with pytest.raises(SettingsError, match="does not exist"):
        connector(url, "no_such_table").test()
    with pytest.raises(SettingsError, match="holds a password"):
        connector(url.replace("@", ":pw@", 1), table)


def test_a_refused_statement_does_not_echo_the_password(sql_table) -> None:
    url, table = sql_table
    target = connector(url, table)
    with pytest.raises(ConnectorError) as refused:
        target.create("ada", {PASSWORD: Secret("canary-" + "x" * 400)})  # too long for the column
    assert "canary-" not in str(refused.value)
    assert "SQL create failed" in str(refused.value)


def test_a_rename_changes_the_key_and_sent_again_is_harmless(sql_table) -> None:
    url, table = sql_table
    target = connector(url, table)
    target.create("ada", {"name": "Ada Lovelace", "mail": "ada@example.test"})
    renamed = {NAME: "ada.king", "name": "Ada King"}
    assert target.update("ada", renamed) == "ada.king"
    assert target.update("ada", renamed) == "ada.king"  # a retry: already renamed
    rows = sql_rows(url, table)
    assert [(row["login"], row["full_name"]) for row in rows] == [("ada.king", "Ada King")]
    with pytest.raises(ConnectorError, match="no row with login = 'ghost'") as refused:
        target.update("ghost", {NAME: "ghost2"})
    assert refused.value.permanent
    target.create("grace", {"name": "Grace Hopper"})
    with pytest.raises(ConnectorError) as refused:  # the key is taken: the database refuses
        target.update("grace", {NAME: "ada.king", "name": "Grace H."})
    assert refused.value.permanent
    assert sorted((row["login"], row["full_name"]) for row in sql_rows(url, table)) == [
        ("ada.king", "Ada King"), ("grace", "Grace Hopper")]
    target.close()
