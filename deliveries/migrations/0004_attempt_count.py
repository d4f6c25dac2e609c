from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deliveries', '0003_request_id'),
    ]

    # A rename in Python only: the column stays `attempts` (db_column), so the
    # previous release, still running while this migrates, keeps working.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name='delivery', old_name='attempts', new_name='attempt_count'),
                migrations.AlterField(
                    model_name='delivery',
                    name='attempt_count',
                    field=models.PositiveIntegerField(db_column='attempts', default=0),
                ),
            ],
        ),
    ]
