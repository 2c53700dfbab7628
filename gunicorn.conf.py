"""gunicorn's settings for the portal (the Dockerfile, bench/ and tests/live_portal.py use it).

Command-line flags still win over this file. Metrics: prometheus-client's multiprocess mode, so every
worker's counters add up in one scrape. It needs PROMETHEUS_MULTIPROC_DIR before any worker imports the
portal; without one set, a fresh directory is made here, emptied at each start (and then no reconciler
can share it: set the variable for both to count the reconciler's NSML calls in this scrape).
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import tempfile
from pathlib import Path


def _count(name: str, default: str) -> int:
    """A whole number of at least 1 from the environment; anything else stops gunicorn with one line naming it."""
    text = os.environ.get(name, default).strip()
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise SystemExit(f"{name} must be a whole number of at least 1, not {text!r}.")
    return int(text)


# gthread: a slow NSML call ties up a thread, not a worker. 40 threads per worker so 32 members waiting
# on a slow NSML cannot take every thread even when their connections land on one worker (README.md,
# Performance). PostgreSQL's max_connections must exceed instances x workers x threads (README.md).
# Without GUNICORN_BIND, the port a platform gives in PORT, as gunicorn's own default does (the probe,
# portal/probe.py, asks the same port).
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT') or 8000}"
# A port past 65535 was a traceback from gunicorn's socket code (OverflowError), and one that is not a number
# gunicorn's "Error: 'abc' is not a valid port number.": neither named the setting. A host alone (127.0.0.1,
# [::1]) is gunicorn's port 8000.
_host, _colon, _port = bind.rpartition(":")
if not bind.startswith(("unix:", "fd://")) and _colon and not bind.endswith("]"):
    _port = _port.strip()
    if not (_port.isascii() and _port.isdigit() and int(_port) <= 65535):
        raise SystemExit(
            f"{'GUNICORN_BIND' if os.environ.get('GUNICORN_BIND') else 'PORT'} names port {_port!r}; "
            "a port is a number from 0 to 65535."
        )
worker_class = "gthread"
workers = _count("GUNICORN_WORKERS", "2")
threads = _count("GUNICORN_THREADS", "40")
timeout = 60
keepalive = 5
# With JSON logs the portal writes one line per request itself (LOG_REQUESTS); gunicorn's plain access
# line would only repeat it in another format.
_json_logs = os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json"
accesslog = None if _json_logs else "-"
# gunicorn's default line, with the path instead of the request line: a query string (an admin's search,
# whatever a client put in one) stays out of the log, as in the JSON lines.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
# And an API token's secret a client put in a path or a referer is cut out of it (portal/access_log.py).
logger_class = "portal.access_log.SecretFreeLogger"
if _json_logs:
    # gunicorn's own lines (booting, worker exits, timeouts) in the portal's JSON, on the same stream.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "portal.jsonlog.JsonFormatter"}},
        # The names gunicorn's defaults refer to (its root logger uses "console"), all JSON to stdout.
        "handlers": {
            name: {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
            for name in ("console", "error_console")
        },
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False}},
    }

_FRESH_METRICS_PREFIX = "portal-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_FRESH_METRICS_PREFIX)


def on_starting(server) -> None:
    """No counter goes down at a restart: what a previous run's processes counted is added into one set of
    files, and a reconciler still running with the same directory keeps its own (portal/metrics_files.py).
    And each instance has a control socket of its own (`gunicornc`): gunicorn's default is one path per user,
    so a second instance on the host took over the first's, and stopping either removed it."""
    from portal.metrics_files import clear_for_start

    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    try:
        clear_for_start(directory)
        # Every worker counts every request here: one that cannot write answered each request 500, /healthz too.
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as error:
        raise SystemExit(
            f"PROMETHEUS_MULTIPROC_DIR cannot be written ({error.strerror}: {directory}); give the portal's "
            "user a directory it can write, or leave the variable unset for a fresh one."
        ) from None
    if server.cfg.control_socket == _default_control_socket():
        server.cfg.set("control_socket", control_socket_for(server.cfg.bind))


def on_exit(server) -> None:
    """A fresh metrics directory made above goes with the server (each start made one, and none was removed);
    told by its place and name, as a reload reads this file again with the variable already set."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.parent == Path(tempfile.gettempdir()) and directory.name.startswith(_FRESH_METRICS_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


def _default_control_socket() -> str:
    from gunicorn.config import ControlSocket

    return ControlSocket.default


def control_socket_for(binds: list[str]) -> str:
    """gunicorn's default directory, a name after the first address served: gunicorn-127.0.0.1-8000.ctl."""
    name = re.sub(r"[^A-Za-z0-9.]+", "-", binds[0] if binds else "default").strip("-")
    return str(Path(_default_control_socket()).with_name(f"gunicorn-{name}.ctl"))


def child_exit(server, worker) -> None:
    """A dead worker's live gauges stop counting; its counters stay in the sum."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """The portal is loaded, and its modules live as long as the worker: gc.freeze() keeps them out of the
    garbage collector's full passes. Each pass otherwise walks them all, about 80 ms during which none of
    the worker's threads runs; with them frozen, about 15 ms (bench/profile_submission.py, 600 submissions).

    And gunicorn's own lines from the worker go through the filter the portal's lines do: a request line it
    cannot read is logged whole, with whatever token or private key its URL held. Added here, in the worker,
    as the master must not import the key parser (portal/access_log.py)."""
    import logging

    from portal.logs import EscapeControlCharacters

    logging.getLogger("gunicorn.error").addFilter(EscapeControlCharacters())  # gunicorn's own error log
    gc.freeze()
