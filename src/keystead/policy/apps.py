from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "keystead.policy"
    label = "policy"
    verbose_name = "Logon policy"
    default_auto_field = "django.db.models.BigAutoField"
