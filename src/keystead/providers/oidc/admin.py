"""Applications in the admin console, with Keystead's token settings inline.

The toolkit's single *authorization grant type* is replaced by Keystead's
*Allowed grants* (check boxes); the toolkit's field is set to the main one.
Registering, changing and deleting are audited as through the REST API
(``oidc.client_registered``, ``oidc.client_changed``, ``oidc.client_deleted``,
door ``admin``).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.hashers import identify_hasher
from oauth2_provider import admin as dot_admin  # registers DOT's admin classes first
from oauth2_provider.models import get_application_model

from keystead.providers.oidc import grants
from keystead.providers.oidc.clients import allowed_grants_of, record, registration_problems
from keystead.providers.oidc.models import ClientSettings

Application = get_application_model()


class ClientSettingsInline(admin.StackedInline):
    model = ClientSettings
    can_delete = False
    extra = 1
    max_num = 1
    exclude = ("allowed_grants",)  # on the application's own form


# Client secrets are stored with a fast hash (hashers.ClientSecretHasher), which is safe only
# for long random values: a typed secret must be at least this long.
MIN_CLIENT_SECRET_LENGTH = 32

# API field names -> this form's field names.
_FORM_FIELD = {"grant_types": "allowed_grants"}


def _is_hash(value: str) -> bool:
    """Whether the field holds the stored hash (an unchanged secret), not a typed value."""
    try:
        identify_hasher(value)
    except ValueError:
        return False
    return True


class ApplicationForm(forms.ModelForm):
    """The same registration rules as the REST API (exact https/loopback redirect URIs, ...).

    The admin supplies the model and the fields (``modelform_factory``).
    """

    allowed_grants = forms.MultipleChoiceField(
        choices=grants.CHOICES, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Tick every grant the application may use. Refresh tokens come with "
                  "authorization code and password unless the token settings below turn "
                  "them off. Password only for an application that must send passwords.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read before ``clean`` sets the main grant from the ticked ones: the audit's "before".
        self.grants_before = allowed_grants_of(self.instance) if self.instance.pk else []
        self.fields["allowed_grants"].initial = (
            self.grants_before or [grants.AUTHORIZATION_CODE])

    def clean(self):
        cleaned = super().clean()
        allowed = grants.ordered(cleaned.get("allowed_grants") or [])
        if allowed:
            # Before the model's own clean (redirect URIs for the code grant, ...).
            self.instance.authorization_grant_type = grants.main_grant(allowed)
        if cleaned.get("algorithm") == Application.HS256_ALGORITHM:
            self.add_error("algorithm", "Keystead signs ID tokens with RS256 (or ES256 in the "
                                        "token settings below); HS256 is not offered.")
        secret = cleaned.get("client_secret") or ""
        if ("client_secret" in self.changed_data and secret and not _is_hash(secret)
                and len(secret) < MIN_CLIENT_SECRET_LENGTH):
            self.add_error("client_secret", (
                f"A client secret must be at least {MIN_CLIENT_SECRET_LENGTH} characters; "
                "keep the generated one unless another system dictates it."))
        problems = registration_problems(
            client_type=cleaned.get("client_type") or "",
            grant_types=allowed,
            redirect_uris=(cleaned.get("redirect_uris") or "").split(),
            post_logout_redirect_uris=(cleaned.get("post_logout_redirect_uris") or "").split(),
            name=cleaned.get("name") or "-")
        for problem in problems:
            field = problem.field.split(".")[0]
            field = _FORM_FIELD.get(field, field)
            if field not in self.errors:
                self.add_error(field, problem.message)
        return cleaned


class ApplicationAdmin(dot_admin.ApplicationAdmin):
    form = ApplicationForm
    inlines = [ClientSettingsInline]
    exclude = ("authorization_grant_type",)  # replaced by the form's allowed grants
    radio_fields = {"client_type": admin.HORIZONTAL}
    list_display = ("pk", "name", "user", "client_type", "grants", "registration_source")
    list_select_related = ("user", "keystead_settings")  # the grants column reads the latter

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "allowed_grants"]
        at = fields.index("client_type") + 1 if "client_type" in fields else len(fields)
        return [*fields[:at], "allowed_grants", *fields[at:]]

    @admin.display(description="allowed grants")
    def grants(self, obj) -> str:
        return ", ".join(allowed_grants_of(obj))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        allowed = grants.ordered(form.cleaned_data["allowed_grants"])
        client_settings, _ = ClientSettings.objects.get_or_create(application=obj)
        client_settings.allowed_grants = allowed
        client_settings.save(update_fields=["allowed_grants"])
        obj.keystead_settings = client_settings
        if not change:
            record("oidc.client_registered", obj, request, "admin",
                   client_type=obj.client_type, grant_types=allowed)
            return
        extra = {}
        before = form.grants_before
        if before != allowed:
            extra["grant_types"] = {"before": before, "after": allowed}
        changed = sorted(set(form.changed_data) | ({"allowed_grants"} if extra else set()))
        for formset in formsets:
            changed += sorted({f"token_settings.{name}" for f in formset.forms
                               for name in f.changed_data})
        record("oidc.client_changed", obj, request, "admin", fields=changed, **extra)

    def delete_model(self, request, obj):
        record("oidc.client_deleted", obj, request, "admin")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record("oidc.client_deleted", obj, request, "admin")
        super().delete_queryset(request, queryset)


admin.site.unregister(Application)
admin.site.register(Application, ApplicationAdmin)
