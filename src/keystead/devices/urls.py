"""Addresses of Computers (endpoint agent), under /devices/."""

from django.urls import path

from keystead.devices import views

urlpatterns = [
    path("enroll", views.enroll, name="devices_enroll"),
    path("config", views.configuration, name="devices_config"),
    path("events", views.events, name="devices_events"),
]
