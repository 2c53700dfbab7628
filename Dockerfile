# Production image: gunicorn serving the portal, static files by whitenoise.
# The same image runs the reconciler beside the web process, with the same environment:
#   docker run ... nsml-key-portal python manage.py nsml_sync --apply --every 60
# as one or more copies (one pass runs at a time: a PostgreSQL advisory lock; the others skip their
# turn). Without it, keys whose outcome NSML left unknown stay pending and unconfirmed revokes stay
# revoking. See README.md, "Key states and the reconciler".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_DEBUG=false
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs a secret key to import settings (a long one, as debug is off); this throwaway
# one is used for nothing else.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 portal
USER portal

EXPOSE 8000
# The web process (the default command); the reconciler overrides it, as above.
# gthread: a slow NSML call ties up a thread, not a worker. 40 threads per worker so 32 members waiting
# on a slow NSML cannot take every thread even when their connections land on one worker (8 threads
# left others waiting 6 s: bench/results.md). PostgreSQL's max_connections must exceed workers x threads.
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", \
     "--workers", "2", "--threads", "40", "--timeout", "60", "--keep-alive", "5", "--access-logfile", "-"]
