"""Addresses of SAML applications (Keystead as identity provider)."""

urlpatterns: list = []
