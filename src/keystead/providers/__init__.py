"""Keystead as an identity provider to other applications (OpenID Connect, later SAML)."""
