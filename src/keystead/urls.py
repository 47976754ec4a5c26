from django.contrib import admin
from django.urls import include, path

from keystead import health
from keystead.api.rest import api
from keystead.portal import password_views, reset_views, second_step_views
from keystead.portal import views as portal

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("scim/v2/", include("keystead.api.scim.urls")),
    path("login/", portal.SignInView.as_view(), name="login"),
    path("logout/", portal.sign_out, name="logout"),
    path("login/verify/", second_step_views.choose, name="login_verify"),
    path("password/change/", password_views.change_password, name="password_change"),
    path("password/change-required/", password_views.change_required,
         name="password_change_required"),
    # /reset is a stable public address other tools show people: no slash redirect.
    path("reset", reset_views.request_link, name="reset"),
    path("reset/", reset_views.request_link),
    path("reset/new-password", reset_views.choose_password, name="reset_choose"),
    # Everything else under /reset/ is a mailed link; never a 404 (it would log the token).
    path("reset/<path:token>", reset_views.open_link, name="reset_link"),
    path("", portal.home, name="home"),
]
