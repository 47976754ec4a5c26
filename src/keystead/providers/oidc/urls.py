"""The provider's addresses: DOT's views under /oauth/, discovery and JWKS at the root.

Everything lives in DOT's ``oauth2_provider`` namespace (DOT reverses its own
names), included at the site root so the issuer is the site's base URL and
discovery sits at ``/.well-known/openid-configuration`` as OIDC Discovery asks.
"""

from django.urls import path

from keystead.providers.oidc.views import (
    KeysteadAuthorizationView,
    KeysteadDiscoveryView,
    KeysteadIntrospectTokenView,
    KeysteadJwksView,
    KeysteadLogoutView,
    KeysteadRevokeTokenView,
    KeysteadTokenView,
    KeysteadUserInfoView,
)

app_name = "oauth2_provider"

urlpatterns = [
    path("oauth/authorize/", KeysteadAuthorizationView.as_view(), name="authorize"),
    path("oauth/token/", KeysteadTokenView.as_view(), name="token"),
    path("oauth/revoke_token/", KeysteadRevokeTokenView.as_view(), name="revoke-token"),
    path("oauth/introspect/", KeysteadIntrospectTokenView.as_view(), name="introspect"),
    path("oauth/userinfo/", KeysteadUserInfoView.as_view(), name="user-info"),
    path("oauth/logout/", KeysteadLogoutView.as_view(), name="rp-initiated-logout"),
    path(".well-known/openid-configuration", KeysteadDiscoveryView.as_view(),
         name="oidc-connect-discovery-info"),
    path(".well-known/jwks.json", KeysteadJwksView.as_view(), name="jwks-info"),
]
