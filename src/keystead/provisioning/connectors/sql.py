"""The SQL-table connector (SQLAlchemy Core): one row per account in any database.

Settings (``System.settings``; the database password is the system secret
``password``, never part of the URL):

``url``             an SQLAlchemy URL without password, e.g.
                    ``postgresql+psycopg://keystead@db.example.org/apps`` or
                    ``mysql+pymysql://keystead@db.example.org/apps``
``table``           the table of accounts (``schema`` optional)
``key_column``      the column holding the account's name; the row's uid is its value
``columns``         ``{"attribute": "column"}``: where each attribute is written;
                    an attribute without an entry goes to the column of its own name
``password_column`` where ``__PASSWORD__`` is written (empty: passwords are refused)
``enabled_column``  where ``__ENABLE__`` is written as a boolean (optional)

Writes are upserts (``INSERT ... ON CONFLICT`` on PostgreSQL and SQLite,
``ON DUPLICATE KEY UPDATE`` on MySQL/MariaDB), so sending a create twice leaves
one row. An update carrying ``__NAME__`` changes the key column first, in the
same transaction as the other columns.

The password column receives what the mapping gives it (a value already
hashed by a script, or the clear password when the target needs it): that
column is the target's to protect. Statement parameters are hidden from
SQLAlchemy's error messages, so a refused statement cannot echo a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite

from keystead.provisioning.connectors.base import (
    ENABLE,
    NAME,
    PASSWORD,
    AttributeInfo,
    Connector,
    ConnectorError,
    SettingsError,
)
from keystead.secret import Secret

_PERMANENT = (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.DataError,
              sa_exc.NoSuchTableError)


def _error(exc: Exception, doing: str) -> ConnectorError:
    """The database's own words (first line), never the statement's parameters."""
    cause = getattr(exc, "orig", None) or exc
    words = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return ConnectorError(f"SQL {doing} failed: {type(cause).__name__}: {words}",
                          permanent=isinstance(exc, _PERMANENT))


class SqlConnector(Connector):
    type = "sql"

    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Secret]) -> None:
        super().__init__(settings, secrets)
        for required in ("url", "table", "key_column"):
            if not self.settings.get(required):
                raise SettingsError(f"SQL setting {required!r} is empty; set it on the system.")
        try:
            url = sa.engine.make_url(self.settings["url"])
        except sa_exc.ArgumentError:
            raise SettingsError("SQL setting 'url' is not an SQLAlchemy database URL, e.g. "
                                "postgresql+psycopg://user@host/database.") from None
        if url.password:
            raise SettingsError("SQL setting 'url' holds a password; remove it from the URL "
                                "and set it as the system's secret 'password'.")
        password = self.secrets.get("password")
        if password:
            url = url.set(password=password.reveal())
        self.columns: dict[str, str] = dict(self.settings.get("columns") or {})
        self.engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True,
                                       pool_size=2, max_overflow=2)
        self._table: sa.Table | None = None

    @property
    def table(self) -> sa.Table:
        if self._table is None:
            try:
                self._table = sa.Table(self.settings["table"], sa.MetaData(),
                                       schema=self.settings.get("schema") or None,
                                       autoload_with=self.engine)
            except sa_exc.NoSuchTableError:
                raise SettingsError(f"SQL table {self.settings['table']!r} does not exist; "
                                    "create it or correct the 'table' setting.") from None
            except sa_exc.SQLAlchemyError as exc:
                raise _error(exc, "table read") from None
            missing = [c for c in (self.settings["key_column"], *self.columns.values(),
                                   self.settings.get("password_column"),
                                   self.settings.get("enabled_column"))
                       if c and c not in self._table.c]
            if missing:
                self._table = None
                raise SettingsError(f"SQL table {self.settings['table']!r} has no column "
                                    f"{', '.join(map(repr, missing))}; correct the mapping.")
        return self._table

    def _row(self, name: str, attributes: Mapping[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {self.settings["key_column"]: name}
        for key, value in attributes.items():
            if key == PASSWORD:
                column = self.settings.get("password_column")
                if not column:
                    raise SettingsError("SQL setting 'password_column' is empty, so passwords "
                                        "cannot be written; name the column.")
            elif key == ENABLE:
                column = self.settings.get("enabled_column")
                if not column:
                    continue  # the table has no way to say disabled
                value = bool(value)
            else:
                column = self.columns.get(key, key)
            if column not in self.table.c:
                raise SettingsError(f"SQL table {self.settings['table']!r} has no column "
                                    f"{column!r} for attribute {key!r}; map it in 'columns'.")
            row[column] = value.reveal() if isinstance(value, Secret) else value
        return row

    def _key(self, name: str) -> sa.ColumnElement[bool]:
        return self.table.c[self.settings["key_column"]] == name

    def close(self) -> None:
        self.engine.dispose()

    # -- the interface ----------------------------------------------------------------
    def test(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(sa.func.count()).select_from(self.table))
        except sa_exc.SQLAlchemyError as exc:
            raise _error(exc, "connection test") from None

    def schema(self) -> list[AttributeInfo]:
        return [AttributeInfo(name=column.name, required=not column.nullable
                              and column.default is None and column.server_default is None,
                              type=str(column.type).lower())
                for column in self.table.c]

    def read(self, name: str) -> dict[str, Any] | None:
        hidden = self.settings.get("password_column")
        try:
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(self.table).where(self._key(name))).mappings().first()
        except sa_exc.SQLAlchemyError as exc:
            raise _error(exc, "read") from None
        return None if row is None else {k: v for k, v in row.items() if k != hidden}

    def _upsert(self, row: dict[str, Any]) -> sa.Executable:
        key = self.settings["key_column"]
        rest = {column: value for column, value in row.items() if column != key}
        dialect = self.engine.dialect.name
        if dialect in {"postgresql", "sqlite"}:
            module = postgresql if dialect == "postgresql" else sqlite
            statement = module.insert(self.table).values(row)
            if not rest:
                return statement.on_conflict_do_nothing(index_elements=[key])
            return statement.on_conflict_do_update(index_elements=[key], set_=rest)
        if dialect in {"mysql", "mariadb"}:
            statement = mysql.insert(self.table).values(row)
            return statement.on_duplicate_key_update(**(rest or {key: row[key]}))
        raise SettingsError(f"SQL upsert is not supported on {dialect}; use PostgreSQL, "
                            "MySQL/MariaDB or SQLite.")

    def create(self, name: str, attributes: Mapping[str, Any]) -> str:
        row = self._row(name, attributes)
        try:
            with self.engine.begin() as conn:
                conn.execute(self._upsert(row))
        except sa_exc.SQLAlchemyError as exc:
            raise _error(exc, "create") from None
        return name

    def update(self, name: str, attributes: Mapping[str, Any]) -> str:
        key = self.settings["key_column"]
        new_name = attributes.get(NAME)
        row = self._row(name, {k: v for k, v in attributes.items() if k != NAME})
        row.pop(key)
        try:
            with self.engine.begin() as conn:
                if new_name and new_name != name:
                    name = self._rename(conn, name, str(new_name))
                if not row:
                    return name
                found = conn.execute(sa.update(self.table).where(self._key(name))
                                     .values(row)).rowcount
        except sa_exc.SQLAlchemyError as exc:
            raise _error(exc, "update") from None
        if not found:
            raise ConnectorError(f"SQL update failed: no row with {key} "
                                 f"= {name!r} in {self.settings['table']!r}.", permanent=True)
        return name

    def _rename(self, conn: sa.Connection, name: str, new_name: str) -> str:
        """Change the row's key from ``name`` to ``new_name`` (in the caller's
        transaction); a row found under the new key only was renamed by an earlier
        attempt, which is success. Returns the new key."""
        key = self.settings["key_column"]
        moved = conn.execute(sa.update(self.table).where(self._key(name))
                             .values({key: new_name})).rowcount
        if not moved and conn.execute(sa.select(self.table.c[key])
                                      .where(self._key(new_name))).first() is None:
            raise ConnectorError(f"SQL rename failed: no row with {key} = {name!r} or "
                                 f"{new_name!r} in {self.settings['table']!r}; reconcile "
                                 "the system to create the account again.", permanent=True)
        return new_name

    def delete(self, name: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(self.table).where(self._key(name)))
        except sa_exc.SQLAlchemyError as exc:
            raise _error(exc, "delete") from None
