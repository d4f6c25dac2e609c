"""Settings of the plain DRF baseline: Tally's (database, apps, logging), a plain project's middleware and DRF.

gunicorn serves it as Tally (`config.wsgi`, `config/gunicorn.py`), with
`DJANGO_SETTINGS_MODULE=bench.baselines.settings`; the database and its
persistent connections (`CONN_MAX_AGE`, `CONN_HEALTH_CHECKS`) are Tally's.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403 - Tally's settings, then what a plain DRF project has instead

ROOT_URLCONF = "bench.baselines.urls"

# `django-admin startproject`'s middleware, as a plain project keeps it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# DRF's own defaults: session and basic authentication, AllowAny, JSON/form/multipart parsers.
REST_FRAMEWORK = {}
