"""Applications in the admin console, with Keystead's token settings inline."""

from django import forms
from django.contrib import admin
from django.contrib.auth.hashers import identify_hasher
from oauth2_provider import admin as dot_admin  # registers DOT's admin classes first
from oauth2_provider.models import get_application_model

from keystead.providers.oidc.clients import registration_problems
from keystead.providers.oidc.models import ClientSettings

Application = get_application_model()


class ClientSettingsInline(admin.StackedInline):
    model = ClientSettings
    can_delete = False
    extra = 1
    max_num = 1


# Client secrets are stored with a fast hash (hashers.ClientSecretHasher), which is safe only
# for long random values: a typed secret must be at least this long.
MIN_CLIENT_SECRET_LENGTH = 32

# API field names -> this form's field names.
_FORM_FIELD = {"grant_type": "authorization_grant_type"}


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

    def clean(self):
        cleaned = super().clean()
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
            grant_type=cleaned.get("authorization_grant_type") or "",
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


admin.site.unregister(Application)
admin.site.register(Application, ApplicationAdmin)
