"""Addresses of SAML sign-in (Keystead as service provider)."""

urlpatterns: list = []
