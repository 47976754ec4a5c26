"""``keystead createadmin``: the first administrator, with a one-time password."""

from __future__ import annotations

import secrets
import sys

import click

from keystead.cli._common import STORABLE_TEXT, input_error, needs_django

# No look-alike characters (0/O, 1/l/I), so the password survives being read aloud or retyped.
PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
DEFAULTS = {"email": "admin@example.com", "given_name": "Keystead", "family_name": "Administrator"}
LABELS = {"email": "Email", "given_name": "Given name", "family_name": "Family name"}


def generate_password(groups: int = 4, size: int = 6) -> str:
    """A one-time password like ``Xk3pQa-7mWz2R-...``: about 138 random bits.

    It always holds a lower-case letter, an upper-case letter, a digit and a
    symbol (the dashes), so any reasonable composition rule accepts it.
    """
    while True:
        parts = ["".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(size))
                 for _ in range(groups)]
        password = "-".join(parts)
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)):
            return password


def _fill(field: str, value: str | None, ask: bool) -> str:
    """A value given on the command line wins; else ask on a terminal; else the default."""
    if value is not None:
        return value
    if ask:
        return click.prompt(LABELS[field], default=DEFAULTS[field], type=STORABLE_TEXT)
    return DEFAULTS[field]


def _existing_admins() -> list[str]:
    from keystead.directory.models import User

    return list(User.objects.filter(is_superuser=True).order_by("email")
                .values_list("email", flat=True)[:4])


def _report_existing(emails: list[str]) -> None:
    shown = ", ".join(emails[:3]) + (", ..." if len(emails) > 3 else "")
    click.echo(f"An administrator already exists: {shown}. Nothing to do.")


@click.command()
@click.option("--email", envvar="KEYSTEAD_ADMIN_EMAIL", show_envvar=True,
              help=f"Sign-in name of the administrator. Default: {DEFAULTS['email']}.")
@click.option("--username", help="A sign-in name beside the email. Default: the email.")
@click.option("--given-name", help=f"Default: {DEFAULTS['given_name']}.")
@click.option("--family-name", help=f"Default: {DEFAULTS['family_name']}.")
@click.option("--if-none", is_flag=True,
              help="Do nothing if any administrator exists; never prompt (for start-up scripts).")
@needs_django
def createadmin(
    email: str | None, username: str | None, given_name: str | None, family_name: str | None,
    if_none: bool,
) -> None:
    """Create an administrator with a one-time password.

    The administrator gets admin console access and every permission. The
    generated password is printed once, as the last line of output, and must
    be changed at the first sign-in. Values not given are asked for on a
    terminal, and otherwise take their defaults.

    \b
    Examples:
      keystead createadmin --email ada@example.com --given-name Ada --family-name Lovelace
      keystead createadmin --if-none          # what `make run` does
    """
    from django.conf import settings
    from django.db import transaction

    from keystead.directory import audit, services
    from keystead.directory.authorization import OPERATOR
    from keystead.secret import Secret

    if if_none and (existing := _existing_admins()):
        _report_existing(existing)
        return
    given = {"email": email, "given_name": given_name, "family_name": family_name}
    ask = not if_none and sys.stdin.isatty()
    values = {field: _fill(field, value, ask) for field, value in given.items()}
    values["username"] = username
    password = Secret(generate_password())
    try:
        with transaction.atomic():
            user = services.create_user(values, actor=OPERATOR, password=password,
                                           door="cli")
            user.is_staff = user.is_superuser = user.must_change_password = True
            user.save(update_fields=["is_staff", "is_superuser", "must_change_password"])
            audit.record("user.update", target=user, detail={
                "door": "cli", "changed": ["is_staff", "is_superuser", "must_change_password"],
            })
    except services.RuleViolation as violation:
        # Two replicas starting together with --if-none: the other one won, which is fine.
        if if_none and isinstance(violation, services.Conflict) and (
                existing := _existing_admins()):
            _report_existing(existing)
            return
        raise input_error(violation) from None
    click.echo(f"Created administrator {user.email} ({user.full_name}), user name "
               f"{user.username}.")
    click.echo(f"One-time password, shown only now; sign in at {settings.BASE_URL}/admin/ "
               "and change it at the first sign-in:")
    click.echo(password.reveal())
