from django.apps import AppConfig


class SamlIdpConfig(AppConfig):
    name = "keystead.providers.saml"
    label = "saml_idp"
    verbose_name = "SAML applications (Keystead as identity provider)"
