"""The MWA progress service's paths, with or without a trailing slash."""

from __future__ import annotations

from django.urls import re_path

from progress import api

urlpatterns = [
    re_path(r"^create/?$", api.create, name="progress-create"),
    re_path(r"^update/?$", api.update, name="progress-update"),
    re_path(r"^show/?$", api.show, name="progress-show"),
    re_path(r"^render/?$", api.render, name="progress-render"),
]
