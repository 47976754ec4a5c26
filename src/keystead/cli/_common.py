"""Helpers shared by the command modules: lazy Django start-up and clear errors.

Django is started only inside commands that need it, so ``keystead --help``
and ``keystead version`` answer at once and work even with a broken
configuration. Expected failures become a one-line message and an exit code
(2 for bad input or configuration, 1 for an operation that failed), never a
traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from keystead.directory.models import User
    from keystead.directory.services import RuleViolation

F = TypeVar("F", bound=Callable[..., Any])


class InputError(click.ClickException):
    """Bad input or configuration: printed as ``Error: ...``, exit status 2 like usage errors."""

    exit_code = 2


def setup_django() -> None:
    """Load the settings and the apps once; turn a configuration mistake into a message."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keystead.settings")
    from django.apps import apps

    if apps.ready:
        return
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except (ValueError, ImproperlyConfigured, OSError) as exc:
        # keystead.config.ConfigError is a ValueError; OSError covers an unwritable data dir.
        raise InputError(f"Configuration error: {exc}") from exc


def find_person(name: str, *, what: str) -> User:
    """The person whose email or user name is ``name``, as sign-in finds them, or an
    InputError beginning with ``what``."""
    from keystead.directory.models import User

    person = User.objects.signing_in_as(name).first()
    if person is None:
        raise InputError(f"{what} with email or user name {name!r}; "
                         "`keystead user list --search` finds people.")
    return person


def needs_django(func: F) -> F:
    """Decorate a command that uses the database: start Django, explain database failures."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_django()
        from django.db import DatabaseError

        try:
            return func(*args, **kwargs)
        except DatabaseError as exc:
            raise click.ClickException(
                f"The database failed: {str(exc).strip()}\n"
                f"Database: {describe_database()}. Check KEYSTEAD_DATABASE_URL; if the schema "
                "is missing run `keystead migrate`; `keystead check` diagnoses the setup."
            ) from exc

    return wrapper  # type: ignore[return-value]


def describe_database() -> str:
    """The configured database in words, without its password."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    engine = str(db["ENGINE"]).rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite file {db['NAME']}"
    where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 'default port'}"
    label = {"postgresql": "PostgreSQL"}.get(engine, engine)
    return f"{label} database {db['NAME']!r} on {where}"


OPTION_FOR_FIELD = {
    "email": "--email",
    "given_name": "--given-name",
    "family_name": "--family-name",
    "name": "--name",
    "scopes": "--scope",
    "days": "--days",
    "password": "password",
}


def input_error(violation: RuleViolation) -> InputError:
    """One line per problem, each naming the option (or field) that is wrong."""
    lines = [f"{OPTION_FOR_FIELD.get(p.field, p.field)}: {p.message}" for p in violation.problems]
    return InputError("\n".join(lines))


def console() -> Console:
    """A rich console on the current stdout, created late so test runners can capture it.

    Markup is off: names, labels and audit details are data typed by other
    people, and ``[bold]`` in a name must print as typed, not restyle the table.
    """
    from rich.console import Console

    out = Console(highlight=False, markup=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 160  # a file or a pipe: room for ids and emails instead of 80 columns
    return out


def table(*headers: str) -> Table:
    """A rich table whose long values wrap onto more lines, never cut off with an ellipsis.

    An id cut to ``3a4bf…`` is useless to someone who must type it into
    ``keystead token revoke``.
    """
    from rich.table import Column, Table

    return Table(*(Column(header, overflow="fold") for header in headers))


def when(moment: datetime | None, empty: str = "—") -> str:
    """A timestamp as operators read it in tables: minutes, UTC, no microseconds."""
    if moment is None:
        return empty
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
