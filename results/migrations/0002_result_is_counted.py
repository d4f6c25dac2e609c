from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("results", "0001_initial"),
    ]

    # A rename in Python only: the column (and so the check constraint's SQL)
    # stays `counts`, so the previous release, still running while this
    # migrates, keeps working.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="result", name="result_score_within_max"),
                migrations.RenameField(model_name="result", old_name="counts", new_name="is_counted"),
                migrations.AlterField(
                    model_name="result",
                    name="is_counted",
                    field=models.BooleanField(db_column="counts", default=True, help_text="False once the unit was reset."),
                ),
                migrations.AddConstraint(
                    model_name="result",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("is_counted", False),
                            models.Q(("max_score__gt", 0), ("score__lte", models.F("max_score"))),
                            _connector="OR",
                        ),
                        name="result_score_within_max",
                    ),
                ),
            ],
        ),
    ]
