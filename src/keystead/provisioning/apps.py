from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "keystead.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from keystead.provisioning import signals  # noqa: F401 - connects the receivers
