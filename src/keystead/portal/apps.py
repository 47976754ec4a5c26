from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "keystead.portal"
    label = "portal"
    verbose_name = "Self-service portal"
