"""Source.revision (kept by a trigger) and the one-statement intake function, on PostgreSQL."""

from pathlib import Path

from django.db import migrations, models

SQL = Path(__file__).resolve().parent.parent / "sql"

REVISION_TRIGGER = """
CREATE SEQUENCE IF NOT EXISTS webhooks_source_revision_seq;
CREATE OR REPLACE FUNCTION webhooks_source_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.revision := nextval('webhooks_source_revision_seq');
    RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS webhooks_source_revision ON webhooks_source;
CREATE TRIGGER webhooks_source_revision BEFORE INSERT OR UPDATE ON webhooks_source
    FOR EACH ROW EXECUTE FUNCTION webhooks_source_revision_bump();
UPDATE webhooks_source SET revision = 0;
"""

DROP = """
DROP FUNCTION IF EXISTS tally_intake_completion;
DROP TRIGGER IF EXISTS webhooks_source_revision ON webhooks_source;
DROP FUNCTION IF EXISTS webhooks_source_revision_bump;
DROP SEQUENCE IF EXISTS webhooks_source_revision_seq;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite takes the Python path and caches no source
    schema_editor.execute(REVISION_TRIGGER, params=None)
    schema_editor.execute((SQL / "intake_completion_v1.sql").read_text(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0004_request_id"),
        ("results", "0002_result_is_counted"),
        ("deliveries", "0005_enqueue_function"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="revision",
            field=models.BigIntegerField(
                db_default=0, default=0, editable=False, help_text="Changes whenever the row does."
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
