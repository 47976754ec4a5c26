"""Addresses of Branding."""

urlpatterns: list = []
