"""Which claims Keystead puts in ID tokens and the userinfo response.

Standard claims follow OpenID Connect Core §5.1. Two are Keystead's own:

- ``groups`` (scope ``groups``): the names of the person's directory groups.
- ``password_changed_at`` (scope ``profile``): when the password last changed,
  in seconds since the epoch (UTC), or absent if it never was. An endpoint that
  caches a password compares it with its own copy to notice a change.
"""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator


def _groups(request) -> list[str]:
    return sorted(request.user.directory_groups.values_list("name", flat=True))


def _password_changed_at(request) -> int | None:
    changed = request.user.password_changed_at
    return int(changed.timestamp()) if changed else None


class KeysteadValidator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "groups": "groups",
        "password_changed_at": "profile",
    }

    def get_additional_claims(self):
        # Request-agnostic form (no ``request`` argument): DOT then lists every
        # claim in the discovery document's ``claims_supported``.
        return {
            "email": lambda r: r.user.email,
            "email_verified": lambda r: True,
            "given_name": lambda r: r.user.given_name,
            "family_name": lambda r: r.user.family_name,
            "name": lambda r: r.user.full_name,
            "groups": _groups,
            "password_changed_at": _password_changed_at,
        }

    def get_oidc_claims(self, token, token_handler, request):
        claims = super().get_oidc_claims(token, token_handler, request)
        return {k: v for k, v in claims.items() if v is not None}
