"""``keystead device``: enrolment tokens for the endpoint agent, the enrolled computers,
and who owns each. The owner is changed through ``services.change_device``, the service
the console's form calls, so the permission check and the audit event are the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keystead.cli._common import (
    LIMIT,
    InputError,
    console,
    find_person,
    needs_django,
    table,
    when,
)

if TYPE_CHECKING:
    from keystead.devices.models import Device


@click.group()
def device() -> None:
    """Computers running the endpoint agent (keystead-agent)."""


@device.command("token")
@click.option("--client-id", required=True,
              help="The OpenID Connect application the agent signs in as (password grant).")
@click.option("--mode", type=click.Choice(["store", "do-not-store"]), default="do-not-store",
              show_default=True, help="Whether the agent keeps the password encrypted.")
@click.option("--check-seconds", type=int, default=300, show_default=True,
              help="How often the agent checks for a changed Keystead password.")
@click.option("--hours", type=int, default=24, show_default=True,
              help="How long the token can be used (once).")
@click.option("--reset-url", default="", help="Shown after three wrong passwords. "
                                              "Default: this installation's /reset.")
@click.option("--login-name", type=click.Choice(["local", "email"]), default="local",
              show_default=True, help="local: the local account name is the Keystead user "
                                      "name; email: local name @ --email-domain.")
@click.option("--email-domain", default="")
@click.option("--label", default="", help="What the token is for, e.g. 'lab computers'.")
@needs_django
def token(client_id: str, mode: str, check_seconds: int, hours: int, reset_url: str,
          login_name: str, email_domain: str, label: str) -> None:
    """Make a one-use enrolment token. Its value is the last line, shown only now.

    \b
    Example:
      keystead device token --client-id AGENT_CLIENT --mode store
      keystead-agent enroll --server https://id.example.com --token -
      (then paste the token: read from standard input, it stays out of the process
      list and the shell's history)
    """
    from keystead.devices.services import EnrollmentRefused, TokenRequest, create_token
    from keystead.directory.authorization import OPERATOR

    wanted = TokenRequest(client_id=client_id, mode=mode, check_seconds=check_seconds,
                          hours=hours, reset_url=reset_url, login_name=login_name,
                          email_domain=email_domain, label=label)
    try:
        made, clear = create_token(wanted, actor=OPERATOR)
    except EnrollmentRefused as error:
        raise InputError(str(error)) from None
    click.echo(f"Enrolment token {made.pk}, one use, expires {made.expires_at:%Y-%m-%d %H:%M} "
               "UTC:", err=True)
    click.echo(clear.reveal())


def find_computer(named: str) -> Device:
    """The computer whose id is ``named``, else the one computer with that exact name; an
    InputError saying how to find it otherwise (names need not be unique)."""
    from keystead.devices.models import Device

    if named.strip().isdigit():
        found = Device.objects.select_related("owner").filter(pk=int(named)).first()
        if found is not None:
            return found
    same = list(Device.objects.select_related("owner").filter(name=named).order_by("pk")[:10])
    if len(same) == 1:
        return same[0]
    if same:
        ids = ", ".join(str(device.pk) for device in same)
        raise InputError(f"COMPUTER: several computers are named {named!r} (ids {ids}); "
                         "give the id instead.")
    raise InputError(f"COMPUTER: no computer with id or name {named!r}; "
                     "`keystead device list` shows them.")


@device.command("list")
@click.option("--owner", metavar="EMAIL_OR_USERNAME", help="Only this person's computers.")
@click.option("--search", metavar="TEXT",
              help="Words that must each appear in the name, the owner's email or the "
                   "reported user.")
@click.option("--limit", type=LIMIT, default=200, show_default=True)
@needs_django
def list_computers(owner: str | None, search: str | None, limit: int) -> None:
    """List enrolled computers: id, name, owner, reported user, mode, last seen.

    The owner is whom an administrator assigned; the reported user is who the computer
    says last signed in on it, which decides nothing.

    \b
    Examples:
      keystead device list
      keystead device list --owner ada@example.com
      keystead device list --search laptop
    """
    from django.db.models import Q

    from keystead.devices.models import Device

    query = Device.objects.select_related("owner")
    if owner is not None:
        query = query.filter(owner=find_person(owner, what="--owner: no user"))
    for word in (search or "").split():
        query = query.filter(Q(name__icontains=word) | Q(owner__email__icontains=word)
                             | Q(reported_user__icontains=word))
    total = query.count()
    computers = list(query.order_by("name", "pk")[:limit])
    if not computers:
        click.echo("No computers match." if owner or search else
                   "No computer is enrolled yet; `keystead device token` makes a token "
                   "for `keystead-agent enroll`.")
        return
    grid = table("Id", "Name", "Owner", "Reported user", "Mode", "Last seen")
    for computer in computers:
        grid.add_row(str(computer.pk), computer.name,
                     computer.owner.email if computer.owner else "—",
                     computer.reported_user or "—", computer.mode,
                     when(computer.last_seen, "never"))
    out = console()
    out.print(grid)
    if total > len(computers):
        out.print(f"Showing {len(computers)} of {total}; narrow with --search or --owner, "
                  "or raise --limit.")


@device.command("set-owner")
@click.argument("computer", metavar="COMPUTER")
@click.argument("person", metavar="EMAIL_OR_USERNAME", required=False)
@click.option("--none", "no_owner", is_flag=True, help="Leave the computer without an owner.")
@needs_django
def set_owner(computer: str, person: str | None, no_owner: bool) -> None:
    """Assign a computer (its id, or its name if no other computer has it) to a person,
    or with --none to nobody. Audited as device.change, as in the console.

    \b
    Examples:
      keystead device set-owner 7 ada@example.com
      keystead device set-owner lab-pc-3 --none
    """

    from keystead.devices.services import change_device
    from keystead.directory.authorization import OPERATOR

    if (person is None) == (not no_owner):
        raise InputError("EMAIL_OR_USERNAME: give the new owner, or --none for no owner "
                         "(not both).")
    found = find_computer(computer)
    owner = None if no_owner else find_person(person or "", what="EMAIL_OR_USERNAME: no user")
    if found.owner_id == (owner.pk if owner else None):
        click.echo(f"Computer {found.pk} ({found.name}) already "
                   + (f"belongs to {owner.email}." if owner else "has no owner.")
                   + " Nothing changed.")
        return
    change_device(found, owner=owner, actor=OPERATOR)
    click.echo(f"Computer {found.pk} ({found.name}) now "
               + (f"belongs to {owner.email}." if owner else "has no owner."))
