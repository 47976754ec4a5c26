# Joins the passkey and the authenticator-app/backup-code migrations, written side by side.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('login', '0002_passkeys'),
        ('login', '0002_totp_backup_codes'),
    ]

    operations = []
