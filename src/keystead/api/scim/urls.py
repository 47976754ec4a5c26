"""SCIM 2.0 routes, mounted at /scim/v2/. A trailing slash is accepted everywhere.

Anything else under /scim/v2/ gets a SCIM 404 (or 501 for /Bulk and /Me), never
Django's HTML page.
"""

from django.urls import re_path

from keystead.api.scim import discovery, views
from keystead.api.scim.groups import GROUPS
from keystead.api.scim.users import USERS

urlpatterns = [
    re_path(r"^$", views.root(USERS, GROUPS), name="scim-root"),
    re_path(r"^\.search/?$", views.search(USERS, GROUPS), name="scim-search"),
    re_path(r"^Users/?$", views.collection(USERS), name="scim-users"),
    re_path(r"^Users/\.search/?$", views.search(USERS), name="scim-users-search"),
    re_path(r"^Users/(?P<resource_id>[^/]+)/?$", views.item(USERS), name="scim-user"),
    re_path(r"^Groups/?$", views.collection(GROUPS), name="scim-groups"),
    re_path(r"^Groups/\.search/?$", views.search(GROUPS), name="scim-groups-search"),
    re_path(r"^Groups/(?P<resource_id>[^/]+)/?$", views.item(GROUPS), name="scim-group"),
    re_path(r"^ServiceProviderConfig/?$", discovery.service_provider_config,
            name="scim-service-provider-config"),
    re_path(r"^Schemas/?$", discovery.schemas, name="scim-schemas"),
    re_path(r"^Schemas/(?P<schema_id>[^/]+)/?$", discovery.schema, name="scim-schema"),
    re_path(r"^ResourceTypes/?$", discovery.resource_types, name="scim-resource-types"),
    re_path(r"^ResourceTypes/(?P<name>[^/]+)/?$", discovery.resource_type,
            name="scim-resource-type"),
    re_path(r"^(?:Bulk|Me)(?:/.*)?$", views.not_implemented, name="scim-not-implemented"),
    re_path(r"^.*$", views.unknown_endpoint, name="scim-unknown"),
]
