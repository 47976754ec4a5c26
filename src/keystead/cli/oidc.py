"""``keystead oidc``: the OpenID Connect provider's signing keys and applications."""

from __future__ import annotations

import click

from keystead.cli._common import console, needs_django, table


@click.group()
def oidc() -> None:
    """OpenID Connect provider: rotate the signing key, list applications."""


@oidc.command("rotate-key")
@click.option("--algorithm", type=click.Choice(["RS256", "ES256"]), default="RS256",
              show_default=True, help="Which ID-token signing key to replace.")
@needs_django
def rotate_key(algorithm: str) -> None:
    """Retire the current ID-token signing key and create a new one.

    The old key moves to oidc_retired_keys/ in the data directory and stays
    published in the JWKS, so ID tokens it signed still verify. Restart every
    Keystead web process afterwards: each signs with the key it loaded at start.
    Delete the retired file once the ID-token lifetime has passed.
    """
    from django.conf import settings
    from jwcrypto import jwk

    from keystead.directory import audit
    from keystead.providers.oidc import keys

    retired, pem = keys.rotate_signing_key(settings.DATA_DIR, algorithm)
    new_kid = jwk.JWK.from_pem(pem.encode()).thumbprint()
    retired_kid = jwk.JWK.from_pem(retired.read_bytes()).thumbprint() if retired else None
    audit.record("oidc.signing_key_rotated", actor_label="cli",
                 detail={"algorithm": algorithm, "new_kid": new_kid, "retired_kid": retired_kid,
                         "door": "cli"})
    if retired:
        click.echo(f"Retired the {algorithm} key {retired_kid} to {retired}.")
    else:
        click.echo(f"There was no {algorithm} key yet.")
    click.echo(f"New {algorithm} signing key: {new_kid}.")
    click.echo("Restart every Keystead web process now: running processes keep signing with "
               "the old key until they restart.")


@oidc.command("clients")
@needs_django
def clients() -> None:
    """List the registered applications (never their secrets)."""
    from oauth2_provider.models import get_application_model

    from keystead.providers.oidc.claims import sector_of
    from keystead.providers.oidc.clients import allowed_grants_of
    from keystead.providers.oidc.models import settings_for

    apps = list(get_application_model().objects.select_related("keystead_settings")
                .order_by("name"))
    if not apps:
        click.echo("No applications. Register one in the admin console (/admin/) or with the "
                   "REST API (POST /api/v1/clients).")
        return
    grid = table("Name", "Client ID", "Type", "Grants", "ID token", "Subject", "Redirect URIs")
    for app in apps:
        client_settings = settings_for(app)
        signature = client_settings.id_token_algorithm or app.algorithm or "none (OAuth only)"
        subject = ("pairwise (" + sector_of(app) + ")"
                   if client_settings.subject_type == "pairwise" else "public")
        grid.add_row(app.name, app.client_id, app.client_type, "\n".join(allowed_grants_of(app)),
                     signature, subject, "\n".join(app.redirect_uris.split()) or "—")
    console().print(grid)
