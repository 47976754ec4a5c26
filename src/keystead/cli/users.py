"""``keystead user``: find people and set a password from the server's shell."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keystead.cli._common import (
    LIMIT,
    console,
    find_person,
    input_error,
    needs_django,
    table,
    when,
)


@click.group()
def user() -> None:
    """People in the directory: list, search, set a password, unlock."""


if TYPE_CHECKING:
    from keystead.directory.models import User


def _lock_words(person: User) -> str:
    if person.locked_until is None:
        return "locked until an administrator unlocks"
    return f"locked until {when(person.locked_until)}"


@user.command("list")
@click.option("--search", metavar="TEXT",
              help="Words that must each appear in the user name, email, given name or "
                   "family name.")
@click.option("--locked", is_flag=True, help="Only accounts locked now by failed sign-ins.")
@click.option("--limit", type=LIMIT, default=200, show_default=True)
@needs_django
def list_users(search: str | None, locked: bool, limit: int) -> None:
    """List users: status, admin rights, source, last sign-in.

    \b
    Examples:
      keystead user list
      keystead user list --search "ada lovelace"
      keystead user list --locked
    """
    from django.db.models import Q
    from django.utils import timezone

    from keystead.directory.models import User
    from keystead.policy.lockout import locked_filter

    now = timezone.now()
    query = User.objects.filter(locked_filter(now)) if locked else User.objects.all()
    for word in (search or "").split():
        query = query.filter(Q(username__icontains=word) | Q(email__icontains=word) |
                             Q(given_name__icontains=word) | Q(family_name__icontains=word))
    total = query.count()
    people = list(query.order_by("email")[:limit])
    if not people:
        if locked:
            click.echo("No account is locked." if not search else "No locked users match.")
        else:
            click.echo("No users match." if search else "No users yet; `keystead createadmin` "
                       "creates the first administrator.")
        return
    grid = table("User name", "Email", "Name", "Status", "Admin", "Source", "Last sign-in",
                  "Password changed")
    for person in people:
        rights = "superuser" if person.is_superuser else "console" if person.is_staff else ""
        status = "active" if person.is_active else "disabled"
        if person.is_locked(now):
            status += f", {_lock_words(person)}"
        if person.must_change_password:
            status += ", must change password"
        grid.add_row(person.username, person.email, person.full_name, status, rights,
                      person.source,
                      when(person.last_login, "never"), when(person.password_changed_at, "never"))
    out = console()
    out.print(grid)
    if total > len(people):
        out.print(f"Showing {len(people)} of {total}; narrow with --search or raise --limit.")


@user.command("set-password")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def set_password(name: str) -> None:
    """Set a user's password (asked for twice, hidden). Audited.

    There is deliberately no option to pass the password: a command line ends
    up in shell history and in the process list. Scripts can pipe it twice
    on stdin.

    \b
    Example:
      keystead user set-password ada@example.com
    """
    from keystead.directory import services
    from keystead.directory.authorization import OPERATOR
    from keystead.secret import Secret

    person = find_person(name, what="No user")
    secret = Secret(click.prompt(f"New password for {person.email}", hide_input=True,
                                 confirmation_prompt="Repeat the new password"))
    try:
        services.set_password(person, secret, actor=OPERATOR, door="cli")
    except services.RuleViolation as violation:
        raise input_error(violation) from None
    click.echo(f"Password set for {person.email}.")


@user.command("unlock")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def unlock(name: str) -> None:
    """End an account's lockout after failed sign-ins, and reset the count. Audited.

    \b
    Example:
      keystead user unlock ada@example.com
    """
    from keystead.directory.authorization import OPERATOR
    from keystead.login import lockout

    person = find_person(name, what="No user")
    state = _lock_words(person).removeprefix("locked ") if person.is_locked() else ""
    failures = person.failed_logins
    if lockout.unlock(person, actor=OPERATOR, door="cli"):
        click.echo(f"Unlocked {person.email}. It had been locked after {failures} failed "
                   f"sign-ins ({state}); they can sign in again now.")
    else:
        extra = f"; its {failures} failed sign-ins are forgotten" if failures else ""
        click.echo(f"{person.email} was not locked{extra}. Nothing else changed.")


@user.command("disable")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def disable(name: str) -> None:
    """Disable an account: it cannot sign in, and its sessions, remembered browsers and
    issued tokens end. Audited.

    \b
    Example:
      keystead user disable ada@example.com
    """
    _set_active(name, active=False)


@user.command("enable")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def enable(name: str) -> None:
    """Enable a disabled account again (what was revoked stays revoked). Audited.

    \b
    Example:
      keystead user enable ada@example.com
    """
    _set_active(name, active=True)


def _set_active(name: str, *, active: bool) -> None:
    from keystead.directory import services
    from keystead.directory.authorization import OPERATOR

    person = find_person(name, what="No user")
    verb = "enabled" if active else "disabled"
    if services.set_active(person, active, actor=OPERATOR, door="cli"):
        click.echo(f"{person.email} is now {verb}.")
    else:
        click.echo(f"{person.email} was {verb} already. Nothing changed.")


@user.command("delete")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@needs_django
def delete(name: str, yes: bool) -> None:
    """Delete an account for good (its audit events stay). Audited.

    \b
    Example:
      keystead user delete ada@example.com --yes
    """
    from keystead.directory import services
    from keystead.directory.authorization import OPERATOR

    person = find_person(name, what="No user")
    if not yes:
        click.confirm(f"Delete {person.email} for good?", abort=True)
    services.delete_user(person, actor=OPERATOR, door="cli")
    click.echo(f"Deleted {person.email}.")


@user.command("reset-factors")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def reset_factors(name: str) -> None:
    """Remove every second factor of an account and forget its remembered browsers, for a
    person who lost their phone or security key. Audited.

    \b
    Example:
      keystead user reset-factors ada@example.com
    """
    from keystead.directory.authorization import OPERATOR
    from keystead.login import factors

    person = find_person(name, what="No user")
    removed = factors.reset_second_factors(person, actor=OPERATOR, door="cli")
    what = ", ".join(f"{count} {key}" for key, count in removed.items() if count) or "none"
    click.echo(f"Second factors of {person.email} removed ({what}).")


@user.command("sign-out")
@click.argument("name", metavar="EMAIL_OR_USERNAME")
@needs_django
def sign_out(name: str) -> None:
    """Sign a person out everywhere: end every session, remembered browser and issued
    token. Audited.

    \b
    Example:
      keystead user sign-out ada@example.com
    """
    from keystead.directory.authorization import OPERATOR
    from keystead.login import sessions

    person = find_person(name, what="No user")
    ended = sessions.sign_out_everywhere(person, actor=OPERATOR, door="cli")
    click.echo(f"Signed {person.email} out everywhere ({ended} session(s) ended).")
