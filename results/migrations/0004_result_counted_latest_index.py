"""The latest-results index, built without blocking writes to results (the intake) while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("results", "0003_wide_totals_and_latest_results"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='result',
            index=models.Index(condition=models.Q(('is_counted', True)), fields=['source', 'user_id', '-completed_at', 'unit_id'], name='result_counted_latest'),
        ),
    ]
