from django.apps import AppConfig


class HousekeepingConfig(AppConfig):
    name = "keystead.housekeeping"
    label = "housekeeping"
    verbose_name = "Housekeeping"
