"""OpenID Connect / OAuth 2 provider, built on django-oauth-toolkit (see docs/oidc.md)."""
