"""Re-encrypting every encrypted column with the newest key, after a key is added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.db import connection, transaction

from common.fields import EncryptedTextField, fernet


@dataclass
class RotationReport:
    rotated: int = 0
    unreadable: list[str] = field(default_factory=list)  # "app.Model.field #pk"


def encrypted_columns() -> list[tuple[str, str, str]]:
    """(label, table, column) of every encrypted field of every installed model."""
    found = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                label = f"{model._meta.label}.{model_field.name}"
                found.append((label, model._meta.db_table, model_field.column))
    return found


def encryption_keys_rotate(
    *, batch_size: int = 500, on_progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEYS key (MultiFernet.rotate).

    Works on the raw ciphertext, a batch of rows per transaction; a value no
    configured key can read is left as it is and reported.
    """
    report = RotationReport()
    cipher = fernet()
    quote = connection.ops.quote_name
    for label, table, column in encrypted_columns():
        if on_progress is not None:
            on_progress(label)
        last = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {quote(column)} FROM {quote(table)} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608 - names from the models
                    [last, batch_size],
                )
                rows = cursor.fetchall()
                for pk, value in rows:
                    if not value:
                        continue
                    try:
                        rotated = cipher.rotate(value.encode()).decode()
                    except InvalidToken:
                        report.unreadable.append(f"{label} #{pk}")
                        continue
                    cursor.execute(
                        f"UPDATE {quote(table)} SET {quote(column)} = %s WHERE id = %s",  # noqa: S608 - as above
                        [rotated, pk],
                    )
                    report.rotated += 1
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
    return report
