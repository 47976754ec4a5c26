"""Addresses of Computers (endpoint agent)."""

urlpatterns: list = []
