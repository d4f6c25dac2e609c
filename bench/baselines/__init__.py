"""Ceilings that bench/intake.py measures in the same run as Tally's intake.

- `settings`, `urls`, `views`: a plain DRF + ORM webhook view of the same event,
  served by the same gunicorn settings (`config.wsgi` with
  `DJANGO_SETTINGS_MODULE=bench.baselines.settings`);
- `pgbench`: Tally's own intake statements for one accepted `test.completed`,
  captured from a real intake and replayed by pgbench.
"""
