"""The REST API at /api/v1, described by OpenAPI at /api/openapi.json (browse /api/docs)."""

from ninja import NinjaAPI

from keystead.api.errors import install_error_handlers
from keystead.api.routers import (
    clients,
    events,
    groups,
    policy,
    provisioning,
    roles,
    tokens,
    users,
)

api = NinjaAPI(
    title="Keystead API",
    version="1",
    description=(
        "Manage the directory and the logon policy, unlock accounts, read the audit "
        "log and manage provisioning (connected systems, the queue). Authenticate with "
        "an API token: `Authorization: Bearer <token>`; create one with `keystead token create`."
    ),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
for module in (users, groups, roles, events, tokens, policy, clients, provisioning):
    api.add_router("/v1", module.router)
