"""The scopes an admin API token can carry. ``admin`` implies every other scope."""

SCOPES: dict[str, str] = {
    "users:read": "Read users",
    "users:write": "Create, change and delete users and set their passwords",
    "groups:read": "Read groups",
    "groups:write": "Create, change and delete groups and their members",
    "roles:read": "Read roles",
    "roles:write": "Create, change and delete roles",
    "events:read": "Read the audit log",
    "policy:read": "Read the logon policy of the installation and of groups",
    "policy:write": "Change the logon policy of the installation and of groups",
    "clients:read": "Read the registered OpenID Connect applications (never their secrets)",
    "clients:write": "Register, change and delete OpenID Connect applications",
    "provisioning:read": "Read and test connected systems (never their secrets), password "
                         "policies, the provisioning queue and its archive",
    "provisioning:write": "Add, change and delete connected systems, their mapping and "
                          "roles, and password policies; retry and cancel queued operations",
    "scim": "Use the SCIM 2.0 endpoint (/scim/v2) to provision users and groups",
    "admin": "Everything above",
}


def unknown_scopes(requested: list[str]) -> list[str]:
    return [s for s in requested if s not in SCOPES]


def grants(held: list[str], needed: str) -> bool:
    """Whether a token holding ``held`` may do something that needs ``needed``.

    A write scope implies the matching read scope.
    """
    if "admin" in held or needed in held:
        return True
    if needed.endswith(":read"):
        return needed.replace(":read", ":write") in held
    return False
