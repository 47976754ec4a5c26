from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "keystead.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"
    default_auto_field = "django.db.models.BigAutoField"
