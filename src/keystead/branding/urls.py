"""Addresses of Branding: the theme stylesheet and the logo, open to everyone (the
sign-in page shows them before anyone signs in)."""

from django.urls import path

from keystead.branding import views

app_name = "branding"

urlpatterns = [
    path("theme.css", views.theme, name="theme"),
    path("logo", views.logo, name="logo"),
]
