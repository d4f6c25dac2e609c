from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0001_initial"),
    ]

    # A rename in Python only: the column stays `attempts` (db_column), so the
    # previous release, still running while this migrates, keeps working.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="message", old_name="attempts", new_name="attempt_count"),
                migrations.AlterField(
                    model_name="message",
                    name="attempt_count",
                    field=models.PositiveIntegerField(db_column="attempts", default=0),
                ),
            ],
        ),
    ]
