"""Addresses of SAML sign-in (Keystead as service provider)."""

from django.urls import path

from keystead.sources.saml import views

app_name = "saml_source"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path("login", views.start, name="login"),
    path("acs", views.acs, name="acs"),
]
