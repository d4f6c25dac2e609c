"""rotate_encryption_keys: every secret re-encrypted with the newest key; unreadable ones reported."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from common.fields import _fernet
from tests.factories import WHSEC, make_source
from webhooks.models import Source

pytestmark = pytest.mark.django_db


def raw(source: Source, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM webhooks_source WHERE id = %s", [source.pk])
        return cursor.fetchone()[0]


def test_rotation_rewrites_every_secret_with_the_newest_key(settings):
    old = settings.FIELD_ENCRYPTION_KEYS[0]
    signed = make_source(slug="signed", auth_mode=Source.AuthMode.STANDARD, secret=WHSEC, token=None)
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    _fernet.cache_clear()

    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out, stderr=StringIO())

    assert "unreadable: 0" in out.getvalue()
    assert Fernet(new.encode()).decrypt(raw(signed, "secret").encode()).decode() == WHSEC
    settings.FIELD_ENCRYPTION_KEYS = [new]
    _fernet.cache_clear()
    assert Source.objects.get(pk=signed.pk).secret == WHSEC, "readable without the old key"


def test_a_value_no_key_can_read_is_reported_and_left_alone(settings):
    source = make_source(slug="lost")
    foreign = Fernet(Fernet.generate_key()).encrypt(b"someone else's").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE webhooks_source SET token = %s WHERE id = %s", [foreign, source.pk])

    out = StringIO()
    with pytest.raises(CommandError, match="could not be read"):
        call_command("rotate_encryption_keys", stdout=out, stderr=StringIO())

    assert f"unreadable: webhooks.Source.token #{source.pk}" in out.getvalue()
    assert raw(source, "token") == foreign
