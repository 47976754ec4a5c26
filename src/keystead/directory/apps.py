from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "keystead.directory"
    label = "directory"
    verbose_name = "Directory"
    default_auto_field = "django.db.models.BigAutoField"
