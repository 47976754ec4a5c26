"""Give the ready-made admin roles the logon-policy permissions.

``directory/0002_admin_roles`` made the roles before the policy app existed.
Like that migration, this one calls ``create_permissions`` first, because
Django creates permissions only after the whole ``migrate`` run.

Changing a policy additionally needs ``directory.manage_policy`` (the
Security administrator has it); the model permissions below decide who sees
the pages. The Security administrator also gets ``directory.view_user``: it
already held ``unlock_user``, but without seeing the user list it could not
reach the "Locked out (click to unlock)" link there.

A role an operator has deleted is not brought back, and permissions an
operator added are left alone. ``grant`` is importable so test fixtures that
recreate the roles after flushing a database can apply it too.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "Security administrator": [
        "policy.view_logonpolicy",
        "policy.change_logonpolicy",
        "policy.add_grouppolicy",
        "policy.change_grouppolicy",
        "policy.delete_grouppolicy",
        "policy.view_grouppolicy",
        "directory.view_user",
    ],
    "Auditor": [
        "policy.view_logonpolicy",
        "policy.view_grouppolicy",
    ],
}


def _permissions(Permission, db, perms):
    wanted = [tuple(p.split(".", 1)) for p in perms]
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(db).select_related("content_type").filter(
            codename__in=[codename for _, codename in wanted]
        )
    }
    missing = [f"{app}.{codename}" for app, codename in wanted if (app, codename) not in found]
    if missing:
        raise RuntimeError(f"permissions not found: {', '.join(missing)}")
    return [found[key] for key in wanted]


def grant(Group, Permission, db="default"):
    """Add ROLE_PERMISSIONS to the roles that exist (with any app registry)."""
    for name, perms in ROLE_PERMISSIONS.items():
        role = Group.objects.using(db).filter(name=name).first()
        if role is not None:
            role.permissions.add(*_permissions(Permission, db, perms))


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(
            app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias
        )
        app_config.models_module = None
    grant(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"),
          schema_editor.connection.alias)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    for name, perms in ROLE_PERMISSIONS.items():
        role = Group.objects.using(db).filter(name=name).first()
        if role is None:
            continue
        # view_user stays: the role may have had it before this migration.
        policy_perms = [p for p in perms if p.startswith("policy.")]
        role.permissions.remove(*_permissions(Permission, db, policy_perms))


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("directory", "0003_user_lockout"),
        ("policy", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
