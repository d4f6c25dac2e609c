# Tally: one image for web (gunicorn), worker and beat (Celery) and migrations.
# Settings come only from the environment at run time (see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TALLY_DATA_DIR=/app/var \
    WEB_CONCURRENCY=3

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
# key and an encryption key when DEBUG is off. These values exist only for this
# command: they are not in the image's environment and never sign or encrypt
# anything. The code stays owned by root, so the service cannot rewrite it;
# only var/ (the beat schedule) is the service's to write.
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
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); h = h if h not in ('', '*') else 'localhost'; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4)"]

# Workers come from WEB_CONCURRENCY (gunicorn reads it), so a host can be tuned
# without changing the command. --threads > 1 selects the gthread worker.
# Keep-alive 5 s outlives nginx's upstream keepalive_timeout (4 s), so nginx
# never reuses a connection gunicorn is closing. The heartbeat file goes to
# /dev/shm (tmpfs) so a slow overlay disk cannot make a worker look hung.
# Access lines come from nginx, with the request id and without query strings.
CMD ["gunicorn", "config.wsgi", \
     "--bind", "0.0.0.0:8000", \
     "--threads", "4", \
     "--timeout", "30", \
     "--graceful-timeout", "25", \
     "--keep-alive", "5", \
     "--max-requests", "2000", \
     "--max-requests-jitter", "200", \
     "--worker-tmp-dir", "/dev/shm"]
