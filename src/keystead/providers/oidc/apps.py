from django.apps import AppConfig
from oauth2_provider.apps import DOTConfig


class OAuthToolkitConfig(DOTConfig):
    """django-oauth-toolkit's models, under a name the admin console shows plainly."""

    verbose_name = "OpenID Connect applications"


class OidcConfig(AppConfig):
    name = "keystead.providers.oidc"
    label = "oidc"
    verbose_name = "OpenID Connect provider"

    def ready(self) -> None:
        from keystead.providers.oidc import signals  # noqa: F401  (connects receivers)
