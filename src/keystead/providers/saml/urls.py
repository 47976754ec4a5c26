"""Addresses of SAML applications (Keystead as identity provider), under /saml/."""

from django.urls import path

from keystead.providers.saml import views

app_name = "saml_idp"

urlpatterns = [
    path("metadata", views.idp_metadata, name="metadata"),
    path("sso/redirect", views.sso_redirect, name="sso_redirect"),
    path("sso/post", views.sso_post, name="sso_post"),
    path("launch/<slug:slug>", views.launch, name="launch"),
    path("slo/redirect", views.slo_redirect, name="slo_redirect"),
    path("slo/post", views.slo_post, name="slo_post"),
]
