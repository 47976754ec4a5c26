from django.contrib import admin
from django.urls import include, path

from keystead import health
from keystead.api.rest import api
from keystead.portal import (
    account_views,
    email_code_views,
    passkey_views,
    password_views,
    remembered_views,
    reset_views,
    second_step_views,
)
from keystead.portal import backup_code_views as backup_portal
from keystead.portal import totp_views as totp_portal
from keystead.portal import views as portal

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("keystead.providers.oidc.urls")),
    path("scim/v2/", include("keystead.api.scim.urls")),
    path("saml/", include("keystead.providers.saml.urls")),
    path("sources/ldap/", include("keystead.sources.ldap.urls")),
    path("sources/saml/", include("keystead.sources.saml.urls")),
    path("devices/", include("keystead.devices.urls")),
    path("branding/", include("keystead.branding.urls")),
    path("login/", portal.SignInView.as_view(), name="login"),
    path("logout/", portal.sign_out, name="logout"),
    path("login/verify/", second_step_views.choose, name="login_verify"),
    path("login/verify/email/", email_code_views.verify, name="login_verify_email"),
    path("account/browsers", remembered_views.browsers, name="remembered_browsers"),
    path("account/browsers/<int:pk>/revoke", remembered_views.revoke,
         name="remembered_browsers_revoke"),
    path("login/passkey/options", passkey_views.sign_in_options, name="login_passkey_options"),
    path("login/passkey", passkey_views.sign_in, name="login_passkey"),
    path("login/verify/passkey/", passkey_views.verify, name="login_verify_passkey"),
    path("login/verify/passkey/options", passkey_views.verify_options,
         name="login_verify_passkey_options"),
    path("account/passkeys/", passkey_views.manage, name="passkeys"),
    path("account/passkeys/options", passkey_views.registration_options,
         name="passkeys_options"),
    path("account/passkeys/add", passkey_views.add, name="passkeys_add"),
    path("account/passkeys/<int:pk>/rename", passkey_views.rename, name="passkeys_rename"),
    path("account/passkeys/<int:pk>/remove", passkey_views.remove, name="passkeys_remove"),
    path("password/change/", password_views.change_password, name="password_change"),
    path("password/change-required/", password_views.change_required,
         name="password_change_required"),
    # /reset is a stable public address other tools show people: no slash redirect.
    path("reset", reset_views.request_link, name="reset"),
    path("reset/", reset_views.request_link),
    path("reset/new-password", reset_views.choose_password, name="reset_choose"),
    # Everything else under /reset/ is a mailed link; never a 404 (it would log the token).
    path("reset/<path:token>", reset_views.open_link, name="reset_link"),
    path("login/verify/totp", totp_portal.verify_sign_in, name="login_verify_totp"),
    path("login/verify/backup", backup_portal.verify_sign_in, name="login_verify_backup"),
    path("account/totp", totp_portal.manage, name="account_totp"),
    path("account/totp/confirm", totp_portal.confirm, name="account_totp_confirm"),
    path("account/totp/cancel", totp_portal.cancel, name="account_totp_cancel"),
    path("account/totp/<int:pk>/remove", totp_portal.remove, name="account_totp_remove"),
    path("account/backup-codes", backup_portal.manage, name="account_backup_codes"),
    path("account/backup-codes/new", backup_portal.confirm_new_set,
         name="account_backup_codes_new"),
    path("account/backup-codes/download", backup_portal.download,
         name="account_backup_codes_download"),
    path("account/profile", account_views.profile, name="account_profile"),
    path("account/sessions", account_views.signed_in, name="account_sessions"),
    path("account/sessions/end-others", account_views.end_other_sessions,
         name="account_sessions_end_others"),
    path("account/sessions/<str:handle>/end", account_views.end_session,
         name="account_sessions_end"),
    # Browsers ask for /favicon.ico on pages that name no icon (the console's).
    path("favicon.ico", portal.favicon),
    path("", portal.home, name="home"),
]
