from django.apps import AppConfig


class SamlSourceConfig(AppConfig):
    name = "keystead.sources.saml"
    label = "saml_source"
    verbose_name = "SAML sign-in (Keystead as service provider)"
