"""``keystead token``: admin API tokens, issued and revoked through the same audited service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keystead.api.scopes import SCOPES
from keystead.cli._common import (
    InputError,
    console,
    find_person,
    input_error,
    needs_django,
    table,
    when,
)

if TYPE_CHECKING:
    from keystead.api.models import ApiToken
    from keystead.directory.models import User


@click.group()
def token() -> None:
    """Admin API tokens (REST API, SCIM): create, list, revoke.

    Tokens are shown once, when created, and stored only as a hash.
    """


def _owner(email: str | None) -> User | None:
    if email is None:
        return None
    return find_person(email, what="--owner: no user")


@token.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. 'HR sync'.")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(list(SCOPES)), metavar="SCOPE",
              help=f"Repeat for several: {', '.join(SCOPES)}. 'admin' grants everything; "
                   "a :write scope implies its :read scope.")
@click.option("--days", type=click.IntRange(min=0),
              help="Lifetime in days; 0 never expires. Default: KEYSTEAD_API_TOKEN_DAYS (90).")
@click.option("--owner", metavar="EMAIL_OR_USERNAME",
              help="The administrator the token acts as in the audit log.")
@needs_django
def create(name: str, scopes: tuple[str, ...], days: int | None, owner: str | None) -> None:
    """Issue a token. Its value is the last line of output, alone, shown only now.

    \b
    Examples:
      keystead token create --name "HR sync" --scope scim --owner ada@example.com
      TOKEN=$(keystead token create --name ci --scope users:read --days 7 | tail -1)
    """
    from keystead.api.tokens import issue_token
    from keystead.directory.authorization import OPERATOR
    from keystead.directory.services import RuleViolation

    try:
        issued, clear = issue_token(name=name, scopes=list(dict.fromkeys(scopes)),
                                    owner=_owner(owner), days=days, actor=OPERATOR,
                                    door="cli")
    except RuleViolation as violation:
        raise input_error(violation) from None
    click.echo(f"Created token {issued.name!r} with id {issued.key_id}.")
    click.echo(f"Scopes:  {', '.join(issued.scopes)}")
    click.echo(f"Owner:   {issued.owner.email if issued.owner else 'none'}")
    click.echo(f"Expires: {when(issued.expires_at, 'never')}")
    click.echo("Copy the token now; it is stored only as a hash and cannot be shown again:")
    click.echo(clear.reveal())


@token.command("list")
@needs_django
def list_tokens() -> None:
    """List tokens with status, expiry and last use (never their values)."""

    from keystead.api.models import ApiToken

    tokens: list[ApiToken] = list(ApiToken.objects.select_related("owner"))
    if not tokens:
        click.echo("No API tokens. Create one with `keystead token create`.")
        return
    grid = table("Name", "ID", "Scopes", "Owner", "Status", "Expires", "Last used")
    for item in tokens:
        grid.add_row(item.name, item.key_id, ", ".join(item.scopes),
                      item.owner.email if item.owner else "—", item.status,
                      when(item.expires_at, "never"), when(item.last_used_at, "never"))
    console().print(grid)


@token.command("revoke")
@click.argument("key_id")
@needs_django
def revoke(key_id: str) -> None:
    """Revoke a token by id; it stops working at once.

    KEY_ID is the id shown by `keystead token list` and at creation.

    \b
    Example:
      keystead token revoke 3f9a1c2b7d4e
    """
    from keystead.api.models import ApiToken
    from keystead.api.tokens import revoke_token
    from keystead.directory.authorization import OPERATOR

    found = ApiToken.objects.filter(key_id=key_id.strip()).first()
    if found is None:
        raise InputError(f"No token with id {key_id!r}; `keystead token list` shows the ids.")
    if found.revoked_at is not None:
        click.echo(f"Token {found.key_id} ({found.name}) was already revoked "
                   f"{when(found.revoked_at)}.")
        return
    revoke_token(found, actor=OPERATOR, door="cli")
    click.echo(f"Revoked token {found.key_id} ({found.name}).")
