"""Signals by which `common` tells the apps above it what happened, without importing them."""

from __future__ import annotations

from django.dispatch import Signal

# A request's database work failed and the API answered 503; sent with
# `view` (the view's class name) and `exception`.
database_error = Signal()
