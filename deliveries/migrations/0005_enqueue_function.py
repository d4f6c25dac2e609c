"""The set-based enqueue (tally_summaries_enqueue, tally_snapshot, tally_iso), on PostgreSQL."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"

DROP = """
DROP FUNCTION IF EXISTS tally_summaries_enqueue;
DROP FUNCTION IF EXISTS tally_snapshot;
DROP FUNCTION IF EXISTS tally_iso;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # other databases build snapshots in Python
    schema_editor.execute((SQL / "enqueue_v1.sql").read_text(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0004_attempt_count"),
        ("results", "0002_result_is_counted"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
