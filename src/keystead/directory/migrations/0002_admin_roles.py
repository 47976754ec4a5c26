"""Admin roles: the AdminRole proxy and four ready-made roles.

Django creates permissions only after the whole ``migrate`` run (post_migrate),
so on a fresh database the permissions these roles need do not exist yet.
``create_permissions`` is therefore called here first, against this
migration's historical app registry.

The role definitions are frozen in this file on purpose: a later change to a
role is a new migration, so an existing installation and a new one end up
with the same roles.
"""

import django.contrib.auth.models
from django.contrib.auth.management import create_permissions
from django.db import migrations

_CRUD = ("add", "change", "delete", "view")

ADMIN_ROLES = {
    "Directory administrator": [
        *(f"directory.{verb}_{model}" for model in ("user", "group", "role") for verb in _CRUD),
        "directory.set_user_password",
        "directory.view_event",
    ],
    "Helpdesk": [
        "directory.view_user",
        "directory.change_user",
        "directory.unlock_user",
        "directory.set_user_password",
        "directory.view_event",
    ],
    "Security administrator": [
        "directory.manage_policy",
        "directory.view_event",
        "directory.unlock_user",
        "api.view_apitoken",
        "api.add_apitoken",
        "api.change_apitoken",
    ],
    "Auditor": [
        "directory.view_user",
        "directory.view_group",
        "directory.view_role",
        "directory.view_adminrole",
        "directory.view_event",
        "api.view_apitoken",
    ],
}


def _ensure_permissions(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(
            app_config, verbosity=0, apps=apps, using=schema_editor.connection.alias
        )
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps, schema_editor)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db = schema_editor.connection.alias
    for name, perms in ADMIN_ROLES.items():
        wanted = [tuple(p.split(".", 1)) for p in perms]
        found = {
            (p.content_type.app_label, p.codename): p
            for p in Permission.objects.using(db).select_related("content_type").filter(
                codename__in=[codename for _, codename in wanted]
            )
        }
        missing = [f"{app}.{codename}" for app, codename in wanted if (app, codename) not in found]
        if missing:
            raise RuntimeError(f"Admin role {name!r}: permissions not found: {', '.join(missing)}")
        role, _ = Group.objects.using(db).get_or_create(name=name)
        role.permissions.add(*(found[key] for key in wanted))


def delete_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ADMIN_ROLES).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("directory", "0001_initial"),
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AdminRole",
            fields=[],
            options={
                "verbose_name": "admin role",
                "verbose_name_plural": "admin roles",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("auth.group",),
            managers=[
                ("objects", django.contrib.auth.models.GroupManager()),
            ],
        ),
        migrations.RunPython(create_roles, delete_roles),
    ]
