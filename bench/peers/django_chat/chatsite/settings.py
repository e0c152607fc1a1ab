"""Settings of the Channels tutorial's project (startproject defaults, with `chat` and `channels`
installed and CHANNEL_LAYERS on Redis), for bench/peers/run.py. Production-like: DEBUG off.

The Redis URL and the key prefix come from the environment the benchmark sets, so the run uses
a Redis of its own and keys nobody else uses. Channel-layer options are channels-redis's
defaults (expiry 60 s, group_expiry 86400 s) but for the capacity (below).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "bench-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "chat",
    "channels",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

ASGI_APPLICATION = "chatsite.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("CHAT_REDIS_PREFIX", "asgi"),
            # The one change from channels-redis's defaults (capacity 100): with the benchmark's
            # 4 senders x 64 messages in flight, a full channel dropped messages (about a third of
            # the saturation phase's at 200 members), and lost messages are not a fair throughput.
            # 1,000 is above anything the closed loop can have in flight.
            "capacity": 1000,
        },
    },
}

# The tutorial's SQLite database; sockets without a session cookie never touch it.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
