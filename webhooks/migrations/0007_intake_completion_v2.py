"""The one-statement intake, version 2: wide totals, and the push's snapshot bounded by DELIVERY_MAX_RESULTS."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"

_V1_ARGS = (
    "bigint, bigint, text, text, text, timestamptz, text, text, text, text, text, text, text, text, "
    "numeric, numeric, boolean, integer, timestamptz"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # databases of an earlier release only
    schema_editor.execute(f"DROP FUNCTION IF EXISTS tally_intake_completion({_V1_ARGS})", params=None)
    schema_editor.execute((SQL / "intake_completion_v2.sql").read_text(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP FUNCTION IF EXISTS tally_intake_completion({_V1_ARGS}, integer)", params=None)
    schema_editor.execute((SQL / "intake_completion_v1.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0006_source_pybossa_analysis"),
        ("deliveries", "0006_enqueue_function_v2"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
