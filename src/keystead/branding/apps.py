from django.apps import AppConfig


class BrandingConfig(AppConfig):
    name = "keystead.branding"
    label = "branding"
    verbose_name = "Branding"
