"""What tests and benchmarks start on loopback, written once; import it from `tests.servers`.

- `processes`: free ports, waiting, process groups, redis-server, Celery workers, gunicorn;
- `receivers`: HTTP servers on loopback, a client's receiver and a broken one;
- `telegram`: a fake Bot API.
"""
