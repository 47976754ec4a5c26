"""Django's admin app with Keystead's console site as the default one.

A module of its own: settings name it in INSTALLED_APPS, so it is imported
before any model may be, and the site class is loaded by its dotted path later.
"""

from django.contrib.admin.apps import AdminConfig


class ConsoleConfig(AdminConfig):
    default_site = "keystead.directory.admin_site.KeysteadAdminSite"
