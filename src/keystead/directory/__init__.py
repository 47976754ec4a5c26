"""The directory: users, groups, roles, memberships and the audit log."""
