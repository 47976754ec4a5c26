"""Addresses of LDAP and Active Directory sign-in."""

urlpatterns: list = []
