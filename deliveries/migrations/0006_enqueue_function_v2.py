"""The enqueue and the push's snapshot, version 2: the user's latest DELIVERY_MAX_RESULTS results, newest first."""

from pathlib import Path

from django.db import migrations

SQL = Path(__file__).resolve().parent.parent / "sql"

# The new functions take one more argument (with a default, so callers of the
# previous release keep working during a deploy); the old ones go first.
DROP_V1 = """
DROP FUNCTION IF EXISTS tally_summaries_enqueue(bigint[], bigint[], boolean, text, timestamptz);
DROP FUNCTION IF EXISTS tally_snapshot(results_summary);
"""
DROP_V2 = """
DROP FUNCTION IF EXISTS tally_summaries_enqueue(bigint[], bigint[], boolean, text, timestamptz, integer);
DROP FUNCTION IF EXISTS tally_snapshot(results_summary, integer);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # databases of an earlier release only
    schema_editor.execute(DROP_V1, params=None)
    schema_editor.execute((SQL / "enqueue_v2.sql").read_text(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_V2, params=None)
    schema_editor.execute((SQL / "enqueue_v1.sql").read_text(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("deliveries", "0005_enqueue_function"),
        ("results", "0003_wide_totals_and_latest_results"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
