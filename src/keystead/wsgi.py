"""WSGI entry point for granian (``keystead serve``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "keystead.settings")
application = get_wsgi_application()
