from django.apps import AppConfig
from django.db.backends.signals import connection_created


class DirectoryConfig(AppConfig):
    name = "keystead.directory"
    label = "directory"
    verbose_name = "Directory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from keystead.directory.event_filters import register_sqlite_functions

        connection_created.connect(register_sqlite_functions,
                                   dispatch_uid="keystead.directory.sqlite_functions")
