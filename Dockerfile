# Tally: one image for web (gunicorn), worker and beat (Celery) and migrations.
# Settings come only from the environment at run time (see .env.example).
# An exact Python and Debian release, so a rebuild gets the same base until
# this line is changed on purpose.
FROM python:3.11.15-slim-bookworm

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
# schedule, and var/metrics: the prometheus folder the settings create, which
# docker-compose.yml mounts a shared volume on), its home directory and /tmp.
# -R: importing the settings above already made var/metrics, as root; a new
# named volume takes the owner of the folder it is mounted on.
RUN DEBUG=false \
    SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput -v 0 \
    && mkdir -p /app/var/metrics \
    && chown -R tally:tally /app/var

USER tally

EXPOSE 8000

# GET /healthz from gunicorn in this container (docker-compose.yml's web service
# runs the same script): process up, no I/O. Readiness (/readyz) is for a load
# balancer, not a restart.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --start-interval=2s --retries=3 \
    CMD ["python", "scripts/healthcheck-web"]

# Bind, workers (WEB_CONCURRENCY), threads, timeouts and the access log (path
# without query string, with the request id) come from config/gunicorn.py,
# shared with `make run`. Only the container adds the heartbeat directory:
# /dev/shm (tmpfs), so a slow overlay disk cannot make a worker look hung.
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.py", "--worker-tmp-dir", "/dev/shm"]
