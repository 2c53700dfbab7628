# Production image: gunicorn serving the portal, static files by whitenoise.
# The same image runs the reconciler beside the web process, with the same environment:
#   docker run ... nsml-key-portal python manage.py nsml_sync --apply --every 60
# as one or more copies (one pass runs at a time: a PostgreSQL advisory lock; the others skip their
# turn). Without it, keys whose outcome NSML left unknown stay pending and unconfirmed revokes stay
# revoking. See README.md, "Key states and the reconciler".
# Its NSML calls count in the web container's /metrics when both mount one volume at the metrics
# directory (PROMETHEUS_MULTIPROC_DIR, below; README.md, "Metrics"):
#   docker run -d --env-file portal.env -v portal-metrics:/var/lib/portal/metrics nsml-key-portal
#   docker run -d --env-file portal.env -v portal-metrics:/var/lib/portal/metrics --no-healthcheck \
#       nsml-key-portal python manage.py nsml_sync --apply --every 60
FROM python:3.11-slim

# A worker's resident memory with 40 threads (README.md, Performance; make bench measures with these, read
# from here): MALLOC_ARENA_MAX, glibc gives each thread a malloc arena of its own by default (up to 8 per
# core), and two hold the same work in less memory; GLIBC_TUNABLES, no per-thread cache of freed blocks
# (tcache), which each busy thread otherwise keeps for itself: 2-4 MiB less at the peak, no slower;
# PYTHONNODEBUGRANGES, code objects without column positions (tracebacks lose their ^^^ marks): about 1 MiB;
# PYTHONOPTIMIZE=2 (python -OO), code without docstrings and assert statements: about 4 MiB. Nothing the
# portal runs reads a docstring (the API's summaries and descriptions are written out, and a test compares
# its OpenAPI document with and without -OO: tests/test_image_interpreter.py) or relies on an assert. Its
# bytecode is compiled at that level below, with the standard library's: the portal's user cannot write
# there, and each process would otherwise compile every module again at each start.
# PROMETHEUS_MULTIPROC_DIR: where gunicorn's workers, and a reconciler given the same volume, keep their
# counters; one directory per web instance (a fresh named volume takes the portal user's ownership from here).
# The portal user's home, /var/lib/portal, is where gunicorn puts its control socket (~/.gunicorn/, gunicornc):
# a system user's default home, /home/portal, is never made, and gunicorn logged an ERROR at every start.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_DEBUG=false PROMETHEUS_MULTIPROC_DIR=/var/lib/portal/metrics \
    MALLOC_ARENA_MAX=2 GLIBC_TUNABLES=glibc.malloc.tcache_count=0 PYTHONNODEBUGRANGES=1 PYTHONOPTIMIZE=2
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic imports the settings, which with debug off refuse to load without a long secret key,
# NCP credentials and an email backend: throwaway values here, used for nothing else. The container
# gets the real ones at run time (README.md, Production).
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    NCP_ACCESS_KEY=build-only NCP_SECRET_KEY=build-only NSML_API_KEY=build-only EMAIL_URL=dummymail:// \
    python manage.py collectstatic --noinput \
    && python -m compileall -q -j 0 -o 2 -x '/(test|tests|idle_test)/' /usr/local/lib/python3.11 /app \
    && useradd --system --uid 10001 --home-dir /var/lib/portal portal \
    && install -d -o portal /var/lib/portal "$PROMETHEUS_MULTIPROC_DIR"
USER portal

EXPOSE 8000
# Liveness: the process answers and reaches its database. /readyz (database, cache, a recent reconcile
# pass) is for the load balancer: a stopped reconciler should take no web container down.
HEALTHCHECK --interval=30s --timeout=6s --start-period=20s --retries=3 \
    CMD ["python", "-m", "portal.probe", "/healthz"]
# The reconciler container (above) serves no HTTP: run it with --no-healthcheck.
# The web process (the default command); the reconciler overrides it, as above. gunicorn.conf.py: gthread,
# 2 workers x 40 threads (why: README.md, Performance), metrics added up across workers.
CMD ["gunicorn", "portal.wsgi", "--config", "gunicorn.conf.py"]
