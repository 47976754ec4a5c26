"""Console pages: the enrolled computers (delete one to make it enrol again) and the
enrolment tokens (made here or with ``keystead device token``; the value is shown once)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from keystead.devices import services
from keystead.devices.console import add_token_view
from keystead.devices.models import Device, EnrollmentToken
from keystead.directory.admin_site import short_time
from keystead.directory.authorization import Actor


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "reported_user", "mode", "enrolled", "seen")
    list_select_related = ("owner",)  # the owner may be empty, which Django's own join skips
    list_filter = ("mode",)
    search_fields = ("name", "owner__email", "reported_user")
    readonly_fields = ("name", "reported_user", "application", "reset_url", "login_name",
                       "email_domain", "enrolled_at", "last_seen", "last_report", "public_key")
    # The owner (assigned here) beside what the computer reports, clearly apart.
    fields = ("name", "owner", "reported_user", "mode", "check_seconds", "application",
              "reset_url", "login_name", "email_domain", "enrolled_at", "last_seen",
              "last_report", "public_key")
    autocomplete_fields = ()
    raw_id_fields = ("owner",)

    @admin.display(description="enrolled", ordering="enrolled_at")
    def enrolled(self, device: Device) -> str:
        return short_time(device.enrolled_at)

    @admin.display(description="last seen", ordering="last_seen")
    def seen(self, device: Device) -> str:
        return short_time(device.last_seen)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # computers enrol themselves with a token

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        """The form carries the values it was shown with, so ``changed_data`` names the
        fields the administrator changed, not those another administrator changed since."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in ("owner", "mode", "check_seconds"):
            field.show_hidden_initial = True
        return field

    def save_model(self, request: HttpRequest, obj: Device, form, change: bool) -> None:
        """Owner, mode and interval change here, through the audited service that decides
        who may; only the fields the administrator changed, so what another
        administrator saved while the form was open stays."""
        changes = {field: getattr(obj, field) for field in form.changed_data
                   if field in ("owner", "mode", "check_seconds")}
        services.change_device(obj, **changes, actor=Actor.person(request.user),
                               request=request)

    def delete_model(self, request: HttpRequest, obj: Device) -> None:
        services.delete_device(obj, actor=Actor.person(request.user), request=request)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for device in queryset:
            services.delete_device(device, actor=Actor.person(request.user), request=request)


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(admin.ModelAdmin):
    list_display = ("__str__", "mode", "created_by", "expires_at", "used_at")
    list_select_related = ("created_by",)
    readonly_fields = ("label", "application", "mode", "check_seconds", "reset_url",
                       "login_name", "email_domain", "created_by", "created_at", "expires_at",
                       "used_at")

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict | None = None) -> HttpResponse:
        """Not Django's model form: ``create_token`` makes it and the page shows it once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return add_token_view(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
