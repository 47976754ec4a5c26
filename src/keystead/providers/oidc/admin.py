"""Applications in the admin console, with Keystead's token settings inline."""

from django.contrib import admin
from oauth2_provider import admin as dot_admin  # registers DOT's admin classes first
from oauth2_provider.models import get_application_model

from keystead.providers.oidc.models import ClientSettings

Application = get_application_model()


class ClientSettingsInline(admin.StackedInline):
    model = ClientSettings
    can_delete = False
    extra = 1
    max_num = 1


class ApplicationAdmin(dot_admin.ApplicationAdmin):
    inlines = [ClientSettingsInline]


admin.site.unregister(Application)
admin.site.register(Application, ApplicationAdmin)
