"""Helpers shared by the command modules: lazy Django start-up and clear errors.

Django is started only inside commands that need it, so ``keystead --help``
and ``keystead version`` answer at once and work even with a broken
configuration. Expected failures become a one-line message and an exit code
(2 for bad input or configuration, 1 for an operation that failed), never a
traceback.
"""

from __future__ import annotations

import functools
import math
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
    """Decorate a command that uses the database: refuse text no column can store, start
    Django, explain database failures. Every such command passes here, so the check on
    its options is made once for all of them, before anything is read or written."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:  # None only when called as a plain function
            refuse_unstorable(ctx)
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


def refuse_unstorable(ctx: click.Context) -> None:
    """Refuse, naming it, an option or argument no column can store.

    Bytes on the command line that are not UTF-8 reach Python as unpaired
    surrogates, which the database driver cannot encode (a traceback, not a
    message), and PostgreSQL's text refuses a NUL character. The rule is the one
    the JSON doors apply (``keystead.json_text``). Paths are not strings here and
    are left alone: a file name need not be UTF-8.
    """
    from keystead.json_text import unstorable

    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        values = value if isinstance(value, tuple | list) else (value,)
        if any(isinstance(item, str) and unstorable(item) for item in values):
            raise InputError(
                f"{option_name(param)}: not valid text (a NUL character or bytes that are "
                "not UTF-8); type it again as UTF-8 text, or check the terminal's encoding "
                "(locale).")


class StorableText(click.ParamType):
    """Text typed at a prompt, held to the rule ``refuse_unstorable`` applies to options:
    click asks again, with the reason, instead of the value failing later in the
    database driver."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        from keystead.json_text import unstorable

        if isinstance(value, str) and unstorable(value):
            self.fail("not valid text (a NUL character or bytes that are not UTF-8); "
                      "type it again as UTF-8 text, or check the terminal's encoding "
                      "(locale).", param, ctx)
        return value


#: The type of every prompt whose answer is kept or sent on.
STORABLE_TEXT = StorableText()


def option_name(param: click.Parameter) -> str:
    """How the operator typed ``param``: its long option (``--name``) or an argument's
    metavar (``EMAIL_OR_USERNAME``)."""
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


#: The most rows a listing (--limit) shows: any more is no table to read, and an
#: unbounded number overflows the database's LIMIT (a bigint).
MAX_LIMIT = 1_000_000

#: The type of every --limit option.
LIMIT = click.IntRange(1, MAX_LIMIT)


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses ``nan`` and ``inf``, which float() accepts: nan
    compares false with both bounds, so FloatRange lets it through to the code that
    uses it (a timeout of nan is a ValueError deep in the socket library)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number; give a number of seconds.",
                      param, ctx)
        return number


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
