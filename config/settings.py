"""Lectern settings: one module, every deployment difference comes from the environment."""
import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envrate(name, default):
    value = os.environ.get(name) or default
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)", value.strip()):
        raise ImproperlyConfigured(f"{name} must be a number of requests per s, min, hour or day, e.g. 60/min; "
                                   f"got {value!r}")
    return value.strip()


def envlist(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    # Development only: a fixed key keeps sessions valid across restarts of `make run`.
    SECRET_KEY = "dev-insecure-lectern-key-change-me-in-production-0123456789"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "corpus",
    "annotations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "corpus.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "corpus.middleware.ContentSecurityPolicyMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, so that its lock-out page replaces the login form's answer on the way out.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# SQLite by default so that a first run needs nothing set up; DATABASE_URL switches
# to PostgreSQL. WAL plus IMMEDIATE transactions and a busy timeout let several
# reviewers save at once without "database is locked".
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL,
                conn_max_age=envint("CONN_MAX_AGE", 60),
                conn_health_checks=True,
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {exc}") from None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": SQLITE_OPTIONS,
            # Kept open between requests, as on PostgreSQL: opening one and running the
            # PRAGMAs above cost about 1.5 ms of every request.
            "CONN_MAX_AGE": envint("CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serving straight from the app folders too means a server started without
# collectstatic (benchmarks, a quick trial) still has its scripts and styles.
WHITENOISE_USE_FINDERS = envbool("WHITENOISE_USE_FINDERS", True)

AUTHENTICATION_BACKENDS = [
    "corpus.logins.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Password guessing: after LECTERN_LOGIN_FAILURE_LIMIT failed logins for one username, or from
# one client address, every login for it is refused (the right password too) until
# LECTERN_LOGIN_LOCKOUT_SECONDS after the last failure. django-axes counts in the database,
# so every worker and server sees the same counts.
LECTERN_LOGIN_FAILURE_LIMIT = envint("LECTERN_LOGIN_FAILURE_LIMIT", 5)
LECTERN_LOGIN_LOCKOUT_SECONDS = envint("LECTERN_LOGIN_LOCKOUT_SECONDS", 15 * 60)
if LECTERN_LOGIN_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("LECTERN_LOGIN_FAILURE_LIMIT must be at least 1")
if LECTERN_LOGIN_LOCKOUT_SECONDS < 1:
    raise ImproperlyConfigured("LECTERN_LOGIN_LOCKOUT_SECONDS must be at least 1")
# Behind N proxies that each append to X-Forwarded-For, the client is the N-th address from
# the right; 0 (no proxy) takes the connection's own address. Leaving it 0 behind a proxy
# would count every client's failures as the proxy's and lock everyone out together.
LECTERN_PROXY_COUNT = envint("LECTERN_PROXY_COUNT", 0)
if LECTERN_PROXY_COUNT < 0:
    raise ImproperlyConfigured("LECTERN_PROXY_COUNT must be 0 or more")
AXES_FAILURE_LIMIT = LECTERN_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LECTERN_LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Knocking during a lock-out neither counts nor extends it, so the window is the same for
# the owner who retries as for the one guessing.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Axes' own reset would also clear the address's count, so that a guesser holding any
# account could log into it between guesses and never be stopped; corpus.logins resets
# the username's count alone.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "corpus.logins.client_ip"
AXES_LOCKOUT_CALLABLE = "corpus.logins.lockout_response"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # corpus/admin.py shows the attempts alone
AXES_VERBOSE = False
# Its warnings (each failure, each lock-out) name the username and address: that is what an
# operator needs to see. The password is never logged.
AXES_SENSITIVE_PARAMETERS = []

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "corpus:project-list"
LOGOUT_REDIRECT_URL = "login"

# Uploads: the import page reads files into memory, so keep every limit explicit.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = envint("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = envint("DATA_UPLOAD_MAX_NUMBER_FILES", 500)

LECTERN_MAX_DOCUMENT_BYTES = envint("LECTERN_MAX_DOCUMENT_BYTES", 2 * 1024 * 1024)
LECTERN_MAX_IMPORT_FILES = envint("LECTERN_MAX_IMPORT_FILES", 500)
LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES = envint("LECTERN_MAX_ZIP_UNCOMPRESSED_BYTES", 200 * 1024 * 1024)

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request with the first class's challenge,
    # and only TokenAuthentication has one, so that is a 401 rather than a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "annotations.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "annotations.throttling.UserRateThrottle",
        "annotations.throttling.AnonRateThrottle",
    ],
}
# Requests per signed-in user (token or session), and per address for the few endpoints open to
# anonymous requests (the schema and its reference page). Beyond it the API answers 429 with
# Retry-After. Counted in the database (annotations.throttling), shared by all workers and servers.
# The workbench saves on every key press and scripts loop over spans: the user rate is generous.
LECTERN_API_USER_RATE = envrate("LECTERN_API_USER_RATE", "6000/min")
LECTERN_API_ANON_RATE = envrate("LECTERN_API_ANON_RATE", "60/min")

SPECTACULAR_SETTINGS = {
    "TITLE": "Lectern API",
    "DESCRIPTION": "Documents, label schema and labeled spans of Lectern projects.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from the installed sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Security headers. Scripts load only as files from this origin, never inline, so a
# payload that slips into a page cannot run; the admin still needs inline styles.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Behind a TLS-terminating proxy these come on from the environment (see README, Production).
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read without building an ORM query on every request.
SESSION_ENGINE = "corpus.sessions"
if envbool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Failures and lock-outs are warnings; the steps in between are not worth a line each.
    "loggers": {"axes": {"level": "WARNING"}},
}
