"""Django settings, all taken from ``KEYSTEAD_*`` environment variables (see config.py)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from keystead import config

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.data_dir()

DEBUG = config.env_bool("KEYSTEAD_DEBUG", False)
SECRET_KEY = config.env("KEYSTEAD_SECRET_KEY") or config.load_or_create_secret_key(DATA_DIR)
# Earlier keys, still accepted while sessions, links and encrypted seeds move to the new one.
SECRET_KEY_FALLBACKS = [k for k in config.env("KEYSTEAD_SECRET_KEY_FALLBACKS").split(",") if k]

BASE_URL = config.env("KEYSTEAD_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = [
    *config.hosts_from_base_url(BASE_URL),
    "127.0.0.1",
    "localhost",
    "testserver",
    *[h for h in config.env("KEYSTEAD_ALLOWED_HOSTS").split(",") if h],
]
CSRF_TRUSTED_ORIGINS = [config.origin_of(BASE_URL)]
TRUSTED_PROXY_COUNT = config.env_int("KEYSTEAD_TRUSTED_PROXIES", 0)
if BASE_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
    # Browsers that have seen Keystead over https refuse plain http to it from then on.
    SECURE_HSTS_SECONDS = config.env_int("KEYSTEAD_HSTS_SECONDS", 365 * 24 * 3600)

INSTALLED_APPS = [
    "keystead.directory",
    "keystead.policy",
    "keystead.login",
    "keystead.api",
    "keystead.portal",
    "keystead.providers.oidc.apps.OidcConfig",
    "keystead.providers.oidc.apps.OAuthToolkitConfig",
    "keystead.providers.saml",
    "keystead.sources.ldap",
    "keystead.sources.saml",
    "keystead.devices",
    "keystead.branding",
    "keystead.provisioning",
    "keystead.housekeeping",
    "keystead.directory.console_app.ConsoleConfig",  # Django's admin, Keystead's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # the API's documentation page from local static files, not a CDN
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "keystead.login.idle.IdleSessionMiddleware",
    "keystead.directory.refusal_middleware.RefusalAuditMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Pages load scripts, styles, images and fonts from Keystead itself only; nothing inline.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    },
}

ROOT_URLCONF = "keystead.urls"
WSGI_APPLICATION = "keystead.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "keystead.branding.brand.context",
            ],
        },
    },
]

DATABASE_URL = config.env("KEYSTEAD_DATABASE_URL") or config.default_database_url()
# Persistent connections, checked before reuse so a restarted database server costs no error.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60,
                                              conn_health_checks=True)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    config.create_owner_only(Path(DATABASES["default"]["NAME"]))
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # One writer at a time: a transaction takes the write lock when it begins (so two
    # cannot both read and then fail to write), and waits up to 20 s for it; readers go
    # on beside the writer (write-ahead log).
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;",
                                       "transaction_mode": "IMMEDIATE", "timeout": 20}
elif (DATABASES["default"]["ENGINE"].endswith("postgresql")
      and config.env_bool("KEYSTEAD_DATABASE_PREPARE", True)):
    # PostgreSQL binds the parameters itself, and a statement a connection sends again and
    # again (after five runs: psycopg's own threshold, which Django turns off unless asked)
    # is prepared, so PostgreSQL parses and plans it once per connection instead of on
    # every request. A pooler between Keystead and PostgreSQL must keep prepared
    # statements (PgBouncer 1.21+: max_prepared_statements), or this is turned off
    # (docs/scaling.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "directory.User"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# A session ends this long after its sign-in, or after this long without a request.
SESSION_COOKIE_AGE = config.env_int("KEYSTEAD_SESSION_MAX_HOURS", 12) * 3600
SESSION_IDLE_SECONDS = config.env_int("KEYSTEAD_SESSION_IDLE_MINUTES", 60) * 60
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# argon2id with the OWASP parameters; any other hash is upgraded at the next sign-in.
ARGON2_TIME_COST = config.env_int("KEYSTEAD_ARGON2_TIME_COST", 2)
ARGON2_MEMORY_KIB = config.env_int("KEYSTEAD_ARGON2_MEMORY_KIB", 19456)
ARGON2_PARALLELISM = config.env_int("KEYSTEAD_ARGON2_PARALLELISM", 1)
PASSWORD_HASHERS = [
    "keystead.directory.hashers.KeysteadArgon2Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "keystead.providers.oidc.hashers.ClientSecretHasher",  # OIDC client secrets only
]

# The logon policy checks every password a Django form validates (the admin console's).
AUTH_PASSWORD_VALIDATORS = [{"NAME": "keystead.policy.validators.PolicyPasswordValidator"}]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# keystead/static is not inside an app, so the app-directories finder misses it.
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

_email = config.parse_email_url(config.env("KEYSTEAD_EMAIL_URL", "console://"))
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
DEFAULT_FROM_EMAIL = _email.default_from
EMAIL_CONFIGURED = _email.configured
# Seconds each step of an SMTP exchange may take; mail is sent by the outbox's background
# sender (keystead.login.outbox), so this bounds a retry, never a request.
EMAIL_TIMEOUT = config.env_int("KEYSTEAD_EMAIL_TIMEOUT", 10, minimum=1, hint=" (seconds)")

# An operator's own Bloom filter of breached passwords (`keystead policy build-filter`).
PASSWORD_FILTER_FILE = config.env("KEYSTEAD_PASSWORD_FILTER")
# The longest lifetime an API token may have, in days (ten years), at every door.
API_TOKEN_MAX_DAYS = 3650
API_TOKEN_DEFAULT_DAYS = config.env_int(
    "KEYSTEAD_API_TOKEN_DAYS", 90, minimum=0, maximum=API_TOKEN_MAX_DAYS,
    hint=" (days a new API token lasts; 0 never expires, ten years at most)")
# One address failing to sign in across accounts (keystead/login/throttle.py); 0 turns it off.
THROTTLE_FAILURES = config.env_int("KEYSTEAD_THROTTLE_FAILURES", 25)
THROTTLE_WINDOW_SECONDS = config.env_int("KEYSTEAD_THROTTLE_WINDOW_SECONDS", 600)

# Housekeeping (keystead.housekeeping): days audit events and sent or given-up outbox mail
# are kept; 0 keeps them forever (audit events by default: they are evidence).
_KEEP_HINT = "; give a number of days, or 0 to keep them forever"
AUDIT_RETENTION_DAYS = config.env_int("KEYSTEAD_AUDIT_RETENTION_DAYS", 0, minimum=0,
                                      hint=_KEEP_HINT)
MAIL_RETENTION_DAYS = config.env_int("KEYSTEAD_MAIL_RETENTION_DAYS", 30, minimum=0,
                                     hint=_KEEP_HINT)

# OpenID Connect / OAuth 2 provider (django-oauth-toolkit); see docs/oidc.md.
from keystead.providers.oidc import keys as _oidc_keys  # noqa: E402

# Named explicitly so migrations that point at applications resolve it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    # Empty: the issuer is the address the request came in on (one of ALLOWED_HOSTS).
    "OIDC_ISS_ENDPOINT": config.env("KEYSTEAD_OIDC_ISSUER"),
    "OIDC_RSA_PRIVATE_KEY": _oidc_keys.load_or_create_signing_key(DATA_DIR),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": _oidc_keys.retired_signing_keys(DATA_DIR),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_VALIDATOR_CLASS": "keystead.providers.oidc.validators.KeysteadValidator",
    # Generated, high-entropy client secrets: a fast salted hash (see the class).
    "CLIENT_SECRET_HASHER": "pbkdf2_client_secret",
    "SCOPES": {
        "openid": "Sign you in (OpenID Connect)",
        "email": "Your email address",
        "profile": "Your name and when your password last changed",
        "groups": "The names of your directory groups",
        "offline_access": "Stay signed in (refresh tokens)",
        "introspection": "Ask whether tokens are active (resource servers; client credentials "
                         "only)",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only; "plain" is refused
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # tokens stored hashed
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": config.env_int("KEYSTEAD_OIDC_ACCESS_TOKEN_SECONDS", 600),
    "ID_TOKEN_EXPIRE_SECONDS": config.env_int("KEYSTEAD_OIDC_ID_TOKEN_SECONDS", 600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": config.env_int(
        "KEYSTEAD_OIDC_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}

# Keys the pairwise subject identifiers some applications get (empty: SECRET_KEY). Set it
# before rotating SECRET_KEY, or those applications see every person as someone new.
OIDC_PAIRWISE_KEY = config.env("KEYSTEAD_OIDC_PAIRWISE_KEY")

LOG_FORMAT = config.env("KEYSTEAD_LOG_FORMAT", "human")
LOG_LEVEL = config.env("KEYSTEAD_LOG_LEVEL", "INFO").upper()
LOGGING_CONFIG = None
from keystead.logs import configure_logging  # noqa: E402

configure_logging(LOG_FORMAT, LOG_LEVEL)
