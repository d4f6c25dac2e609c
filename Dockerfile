# Tally: one image for web (gunicorn), worker and beat (Celery) and migrations.
# Settings come only from the environment at run time (see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TALLY_DATA_DIR=/app/var

WORKDIR /app

# A home directory because gunicorn puts its control socket in ~/.gunicorn.
RUN groupadd --system --gid 10001 tally \
    && useradd --system --uid 10001 --gid tally --create-home --home-dir /home/tally \
        --shell /usr/sbin/nologin tally

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic imports the settings, which refuse to load without a secret
# key and an encryption key when DEBUG is off. These throwaway values exist
# only for this command (visible in `docker history`, absent from the image's
# environment) and never sign or encrypt anything. The code stays owned by
# root, so the service cannot rewrite it; it writes only var/ (the beat
# schedule), its home directory and /tmp.
RUN DEBUG=false \
    SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var \
    && chown tally:tally /app/var

USER tally

EXPOSE 8000

# Django answers only to ALLOWED_HOSTS, so the check sends the first of them as
# Host (a leading-dot pattern without its dot; localhost when the list is empty
# or a wildcard).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --start-interval=2s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); h = h if h not in ('', '*') else 'localhost'; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4)"]

# Bind, workers (WEB_CONCURRENCY), threads, timeouts and the access log (path
# without query string, with the request id) come from config/gunicorn.py,
# shared with `make run`. Only the container adds the heartbeat directory:
# /dev/shm (tmpfs), so a slow overlay disk cannot make a worker look hung.
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.py", "--worker-tmp-dir", "/dev/shm"]
