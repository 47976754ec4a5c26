from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "keystead.devices"
    label = "devices"
    verbose_name = "Computers (endpoint agent)"
