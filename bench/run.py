"""`make bench`: what the portal costs per request, how it holds up when NSML is slow, and how it
scales with years of audit history. Writes bench/results.json and bench/results.md, prints both.

Steps, all on this machine and on loopback only:
1. a fresh PostgreSQL database `bench` (dropped and created again), migrated, static files collected;
2. bulk load (bench/load_data.py, COPY): 10,000 members, 100,000 keys, then 20,000 audit rows, SQL
   counted per page (bench/queries.py), then the rest of the history (980,000 more rows by default)
   and the pages counted again;
3. the NSML simulator (nsml/simulator/) in this process, and the portal under gunicorn with
   production settings (GUNICORN below);
4. members logged in once each through the log-in form; locust (bench/loadgen.py) drives each
   scenario for a fixed time while this process samples the workers' resident memory;
5. the admin audit list, its filtered views and a member's /keys/ requested one at a time through
   gunicorn for their latency;
6. two instances (two gunicorns, one database, one Redis) driven at once: what N instances do.

    python bench/run.py [--quick] [--keep-data]
    python bench/run.py --audit-rows 10000000 --scale-only --results results-10m

--quick shortens every scenario (for trying the harness; its figures are not the published ones).
--keep-data skips the database rebuild and the bulk load when `bench` already holds them.
--scale-only loads the data and measures only the admin and /keys/ pages (step 5), into --results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_data import ADMIN_USERNAME, HEAVY_MEMBER, PASSWORD, fingerprint_of  # noqa: E402
from nsml.simulator import Faults, NsmlSimulator  # noqa: E402

OUT = ROOT / "bench" / "out"
PY = sys.executable
PORTAL_PORT = 8100
SIMULATOR_PORT = 8101
PORTAL = f"http://127.0.0.1:{PORTAL_PORT}"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "bench"
# The portal's time zone as bench_env() hands it on (portal/settings.py's default unless TIME_ZONE is set).
PORTAL_TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Seoul")
DSN = f"{PG_SERVER}/{DATABASE}"

# The serving model under test (README "Performance" says why): one process per core, and enough
# threads that 32 members each waiting 2 s on NSML leave threads free for everyone else, even if
# every one of those waits lands in the same worker.
GUNICORN = {"worker_class": "gthread", "workers": 2, "threads": 40, "timeout": 60, "keep_alive": 5}
# Persistent database connections (DATABASE_URL's conn_max_age): a new PostgreSQL connection per
# request costs more than the rest of a /healthz. Health checks reopen a connection that died.
DB_OPTIONS = "conn_max_age=600&conn_health_checks=true"

# The Dockerfile's configuration before this benchmark, run once more under slow NSML to show why it changed.
PREVIOUS_THREADS = 8
# SQL is counted at the first slice and again at the full history: a query more at the larger one grows
# with the data, unless it is the admin paginator's planner estimate (keys/pagination.py), counted apart.
MEMBERS, KEYS, AUDIT_ROWS, AUDIT_FIRST_SLICE = 10_000, 100_000, 1_000_000, 20_000
LEVELS = (1, 8, 32)
ONE_USER_ROUNDS = 2
ENDPOINTS = ("healthz", "login", "keys", "submit")
# 32 members wait on NSML while 8 others load /keys/ four times a second each (`browse` in loadgen.py).
SLOW_NSML_S, SLOW_SUBMITTERS, SLOW_BROWSERS = 2.0, 32, 8
BROWSERS = [f"member{number:05d}" for number in range(2, 2 + 32)]  # ~10 keys each, like most members
SUBMITTERS = [f"member{number:05d}" for number in range(101, 101 + 32)]
SCALE_REQUESTS, SCALE_WARMUP, SCALE_PAGE_BUDGET_S = 30, 3, 20.0  # fewer requests for a page slower than that
# Figures differ by up to three times between machines, so the per-request targets are ratios to
# /healthz in the same run (issue 17); the slow-NSML and memory targets are absolute.
TARGETS = {
    "submit_vs_healthz_rps": 0.2,  # submissions/s at one member >= 0.2 x /healthz/s
    "overhead_vs_healthz_p95": 10.0,  # submission overhead p95 <= 10 x /healthz server p95, one member
    "isolation_p99_ms": 100.0,
    "peak_worker_mib": 85.0,
    "scale_p95_ms": 300.0,
    "search_p95_ms": 200.0,
    "key_list_p95_ms": 150.0,
    "wall_time_s": 15 * 60,
}
TWO_INSTANCES_USERS = 8  # split evenly over the two instances


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_DEBUG="false",
        DJANGO_HTTPS="false",  # plain HTTP on loopback; production has a TLS proxy in front
        DJANGO_SECRET_KEY="bench-" + "s3cr3t-" * 10,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}?{DB_OPTIONS}",
        NSML_API_URL=f"http://127.0.0.1:{SIMULATOR_PORT}/nsml/v1",
        NCP_ACCESS_KEY="bench-access-key",
        NCP_SECRET_KEY="bench-secret-key",
        NSML_API_KEY="bench-api-gateway-key",
        NSML_TIMEOUT="10",
        # The members' notices printed, as before production had to choose a backend: the same work measured.
        EMAIL_URL="consolemail://",
        KEYS_SUBMIT_RATE="100000/m",  # the per-member limit would otherwise be what is measured
        LOG_LEVEL="INFO",  # as in production; gunicorn's output goes to bench/out/gunicorn.log
        PYTHONUNBUFFERED="1",
    )
    # The image's allocator and interpreter settings, as the Dockerfile sets them (resident memory).
    env.update(image_memory_settings())
    if port_open(6379):
        # Production shares a cache between processes (the submission rate limit counts in it).
        env["CACHE_URL"] = "redis://127.0.0.1:6379/13"
    return env


# What the Dockerfile's ENV sets for a worker's memory: gunicorn is measured with them, read from there.
MEMORY_SETTINGS = ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "PYTHONNODEBUGRANGES", "PYTHONOPTIMIZE")


def image_memory_settings() -> dict[str, str]:
    """The MEMORY_SETTINGS the Dockerfile's ENV instructions give (`ENV NAME=value ...`, continued lines)."""
    instructions = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found: dict[str, str] = {}
    for line in instructions.splitlines():
        if line.startswith("ENV "):
            found |= dict(re.findall(r"(\w+)=(\S+)", line))
    return {name: found[name] for name in MEMORY_SETTINGS if name in found}


def compile_bytecode(env: dict[str, str]) -> None:
    """Bytecode at the image's PYTHONOPTIMIZE level, as its build compiles it: without it each gunicorn
    worker compiles every module from source at its start (with PYTHONDONTWRITEBYTECODE set, at each start),
    and that work, not the portal, is what the memory figures would show."""
    level = env.get("PYTHONOPTIMIZE", "")
    if not level.isdigit() or level == "0":
        return
    paths = sysconfig.get_paths()
    places = sorted({paths["stdlib"], paths["purelib"], paths["platlib"]}) + ["keys", "portal", "nsml"]
    # Test suites are left out, as in the image: some of the standard library's hold files that do not compile.
    command = [PY, "-m", "compileall", "-q", "-j", "0", "-o", level, "-x", "/(test|tests|idle_test)/", *places]
    compiled = subprocess.run(command, cwd=ROOT, env=env)
    if compiled.returncode != 0:
        step(f"warning: some bytecode could not be compiled at -O level {level}; those modules compile at each start")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def step(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, check=True, **kwargs)


# The database.


def recreate_database() -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def database_loaded() -> bool:
    try:
        with psycopg.connect(DSN) as connection:
            rows = connection.execute("SELECT count(*) FROM keys_auditevent").fetchone()[0]
    except psycopg.Error:
        return False
    return rows >= AUDIT_ROWS


def load(env: dict[str, str], rows: int, offset: int) -> float:
    started = time.monotonic()
    run(
        [PY, "bench/load_data.py", "--dsn", DSN, "--members", str(MEMBERS), "--keys", str(KEYS)]
        + ["--audit-rows", str(rows), "--audit-offset", str(offset), "--audit-total", str(AUDIT_ROWS)],
        env,
    )
    return time.monotonic() - started


def scale_pages() -> list[dict]:
    """The admin audit list, the views its filters link to, and a member's keys.

    The history ends on 2026-11-01 (load_data.NOW); the date filters' links are built as Django's
    DateFieldListFilter builds them, for a day in that last week: midnights in the portal's time zone,
    with their offset (a date alone would be a naive datetime, which Django warns about on every query).
    """
    day = datetime(2026, 10, 31, tzinfo=ZoneInfo(PORTAL_TIME_ZONE))

    def since_until(since: datetime, until: datetime) -> str:
        return f"created_at__gte={quote(str(since))}&created_at__lt={quote(str(until))}"

    week = since_until(day - timedelta(days=7), day + timedelta(days=1))
    year = since_until(day.replace(month=1, day=1), day.replace(year=day.year + 1, month=1, day=1))
    audit = "/admin/keys/auditevent/"
    pages = [
        ("audit list", audit, ADMIN_USERNAME),
        ("filter action=register", f"{audit}?action__exact=register", ADMIN_USERNAME),
        ("filter outcome=failed", f"{audit}?outcome__exact=failed", ADMIN_USERNAME),
        ("filter action+outcome", f"{audit}?action__exact=register&outcome__exact=unknown", ADMIN_USERNAME),
        ("filter past 7 days", f"{audit}?{week}", ADMIN_USERNAME),
        ("filter this year", f"{audit}?{year}", ADMIN_USERNAME),
        ("member /keys/ (50 keys)", "/keys/", HEAVY_MEMBER),
    ]
    # The searches an admin runs (keys/admin_filters.py): values that are in the loaded history.
    with psycopg.connect(DSN) as connection:
        trace, request_id = connection.execute(
            "SELECT trace_id, request_id FROM keys_auditevent WHERE trace_id <> '' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    # What an admin pastes: the start of what ssh-keygen -l prints, "SHA256:" and 16 of its characters.
    fingerprint = fingerprint_of(4241)[0][: len("SHA256:") + 16]
    searches = [
        ("search: a user name", f"{audit}?q=member04242"),
        # The last member's rows are among the oldest: PostgreSQL walked the newest-first index of every row to meet
        # them (about a second at 1,000,000 rows) until a short list was read in an order no index gives.
        ("search: a user name with old rows", f"{audit}?q=member10000"),
        ("search: a title's start", f"{audit}?q=k4242"),
        ("search: a fingerprint's start", f"{audit}?q={quote(fingerprint)}"),
        ("search: an NSML trace id", f"{audit}?q={trace}"),
        ("search: a request id", f"{audit}?q={request_id}"),
    ]
    keys = "/admin/keys/registeredkey/"
    key_pages = [
        ("admin key list", keys),
        ("admin key list, one owner", f"{keys}?owner=member04242"),
        ("admin key list, search: a user name", f"{keys}?q=member04242"),
        ("admin key list, search: a title's start", f"{keys}?q=k4242"),
        ("admin key list, search: a fingerprint's start", f"{keys}?q={quote(fingerprint)}"),
    ]
    pages += [(name, url, ADMIN_USERNAME) for name, url in searches + key_pages]
    return [{"name": name, "url": url, "user": user} for name, url, user in pages]


# Targets by kind of page (issue 17): searches under 200 ms, the key list under 150 ms, the rest 300 ms.
def page_target_ms(name: str) -> float:
    if name.startswith("search"):
        return TARGETS["search_p95_ms"]
    if name.startswith("admin key list"):
        return TARGETS["key_list_p95_ms"]
    return TARGETS["scale_p95_ms"]


NOT_TARGETED: set[str] = set()


def count_queries(env: dict[str, str], label: str) -> dict:
    pages = OUT / "pages.json"
    pages.write_text(json.dumps(scale_pages()))
    out = OUT / f"queries-{label}.json"
    run([PY, "bench/queries.py", "--pages", str(pages), "--out", str(out)], env)
    return json.loads(out.read_text())


# The portal.


class Portal:
    def __init__(self, env: dict[str, str], port: int = PORTAL_PORT, **overrides) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config = GUNICORN | overrides
        self.process: subprocess.Popen | None = None
        self.log = open(OUT / ("gunicorn.log" if port == PORTAL_PORT else f"gunicorn-{port}.log"), "a")  # noqa: SIM115

    def command(self) -> list[str]:
        config = self.config
        return [
            str(Path(PY).parent / "gunicorn"),
            "portal.wsgi",
            "--config=gunicorn.conf.py",
            f"--bind=127.0.0.1:{self.port}",
            f"--worker-class={config['worker_class']}",
            f"--workers={config['workers']}",
            f"--threads={config['threads']}",
            f"--timeout={config['timeout']}",
            f"--keep-alive={config['keep_alive']}",
            "--access-logfile=-",
        ]

    def start(self) -> None:
        if port_open(self.port):
            raise SystemExit(f"port {self.port} is taken; stop whatever serves it and run again")
        self.process = subprocess.Popen(
            self.command(), env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; see {OUT / 'gunicorn.log'}")
            try:
                answer = requests.get(f"{self.url}/healthz", timeout=2)
                if answer.status_code == 200 and len(self.workers()) == self.config["workers"]:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class MemorySampler(threading.Thread):
    """Resident memory (VmRSS) of every gunicorn worker, five times a second; the peak per phase."""

    def __init__(self, portal: Portal) -> None:
        super().__init__(daemon=True)
        self.portal = portal
        self.phase = "idle"
        self.peaks: dict[str, dict[int, float]] = {}
        self.threads: dict[str, dict[int, int]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            for pid in self.portal.workers():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                rss_kib = re.search(r"VmRSS:\s+(\d+) kB", status)
                if rss_kib is None:  # a worker exiting (a zombie has no memory): the next sample finds its successor
                    continue
                rss = int(rss_kib[1]) / 1024
                threads = int(re.search(r"Threads:\s+(\d+)", status)[1])
                phase_peaks = self.peaks.setdefault(self.phase, {})
                phase_peaks[pid] = max(phase_peaks.get(pid, 0.0), rss)
                phase_threads = self.threads.setdefault(self.phase, {})
                phase_threads[pid] = max(phase_threads.get(pid, 0), threads)

    def high_water(self) -> dict[int, float]:
        marks = {}
        for pid in self.portal.workers():
            try:
                mark = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            except OSError:
                continue
            if mark is not None:
                marks[pid] = int(mark[1]) / 1024
        return marks


# Members' sessions, made once through the log-in form.


def log_in(username: str, login_path: str = "/accounts/login/") -> tuple[dict, float]:
    session = requests.Session()
    page = session.get(f"{PORTAL}{login_path}", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    started = time.perf_counter()
    answer = session.post(
        f"{PORTAL}{login_path}",
        data={"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise SystemExit(f"log-in of {username} failed ({answer.status_code}); see {OUT / 'gunicorn.log'}")
    return {"sessionid": session.cookies["sessionid"], "csrftoken": session.cookies["csrftoken"]}, elapsed


def log_in_members() -> tuple[dict[str, list[dict]], list[float]]:
    pools, latencies = {}, []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, members in (("browsers", BROWSERS), ("submitters", SUBMITTERS)):
            logged = list(pool.map(log_in, members))
            pools[name] = [session for session, _ in logged]
            latencies += [elapsed for _, elapsed in logged]
    (OUT / "sessions.json").write_text(json.dumps(pools))
    return pools, latencies


# Scenarios.


def loadgen(label: str, mix: dict[str, int], warmup: float, duration: float, host: str = PORTAL) -> list[str]:
    out = OUT / f"load-{label}.json"
    mix_arg = ",".join(f"{kind}={users}" for kind, users in mix.items())
    return [PY, "bench/loadgen.py", "--host", host, "--mix", mix_arg, "--sessions", str(OUT / "sessions.json")] + [
        "--warmup",
        str(warmup),
        "--duration",
        str(duration),
        "--out",
        str(out),
    ]


def scenario(label: str, mix: dict[str, int], warmup: float, duration: float) -> dict:
    with open(OUT / "locust.log", "a") as log:
        run(loadgen(label, mix, warmup, duration), dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    result = json.loads((OUT / f"load-{label}.json").read_text())
    result["load_average"] = os.getloadavg()[0]  # 1-minute: others' work on the machine shows here
    return result


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of raw samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def merge_loads(loads: list[dict]) -> dict:
    """Several rounds of one scenario as one: their samples, their measured windows added up."""
    merged = dict(loads[-1])
    merged["samples"] = [sample for load in loads for sample in load["samples"]]
    merged["window_s"] = sum(load["window_s"] for load in loads)
    merged["load_average"] = max(load["load_average"] for load in loads)
    return merged


def summarize(load: dict, name: str) -> dict:
    columns = load["columns"]
    rows = [dict(zip(columns, sample, strict=True)) for sample in load["samples"] if sample[0] == name]
    ok = [row for row in rows if not row["error"]]
    latencies = [row["latency_ms"] for row in ok]
    totals = [row["total_ms"] for row in ok if row["total_ms"] is not None]
    overheads = [row["total_ms"] - row["nsml_ms"] for row in ok if row["total_ms"] is not None]
    summary = {
        "load_average_after": round(load.get("load_average", 0.0), 2),
        "requests": len(rows),
        "errors": len(rows) - len(ok),
        "error_examples": sorted({row["error"] for row in rows if row["error"]})[:3],
        "rps": round(len(ok) / load["window_s"], 1),
        "p50_ms": rnd(percentile(latencies, 50)),
        "p95_ms": rnd(percentile(latencies, 95)),
        "p99_ms": rnd(percentile(latencies, 99)),
        "max_ms": rnd(max(latencies, default=None)),
        "server_p50_ms": rnd(percentile(totals, 50)),
        "server_p95_ms": rnd(percentile(totals, 95)),
    }
    if name == "submit":
        summary["overhead_p50_ms"] = rnd(percentile(overheads, 50))
        summary["overhead_p95_ms"] = rnd(percentile(overheads, 95))
        summary["nsml_p50_ms"] = rnd(percentile([row["nsml_ms"] for row in ok if row["nsml_ms"] is not None], 50))
    return summary


def rnd(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def measure_page(session: requests.Session, url: str) -> dict:
    for _ in range(SCALE_WARMUP):
        session.get(f"{PORTAL}{url}", timeout=60)
    latencies, statuses = [], set()
    deadline = time.monotonic() + SCALE_PAGE_BUDGET_S
    while len(latencies) < SCALE_REQUESTS and (len(latencies) < 5 or time.monotonic() < deadline):
        started = time.perf_counter()
        answer = session.get(f"{PORTAL}{url}", timeout=60)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.add(answer.status_code)
    return {
        "requests": len(latencies),
        "p50_ms": rnd(percentile(latencies, 50)),
        "p95_ms": rnd(percentile(latencies, 95)),
        "max_ms": rnd(max(latencies)),
        "statuses": sorted(statuses),
    }


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    with psycopg.connect(f"{PG_SERVER}/postgres") as connection:
        postgres = connection.execute("SHOW server_version").fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "note": "portal, PostgreSQL, the NSML simulator and the load generator all share these cores",
    }


def main() -> None:
    global AUDIT_ROWS
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short scenarios, for trying the harness")
    parser.add_argument("--keep-data", action="store_true", help="reuse a loaded `bench` database")
    parser.add_argument("--workers", type=int, default=GUNICORN["workers"], help="gunicorn workers to measure")
    parser.add_argument("--threads", type=int, default=GUNICORN["threads"], help="threads per worker")
    parser.add_argument(
        "--audit-rows",
        type=int,
        default=AUDIT_ROWS,
        help="audit history to load (default 1,000,000; 10000000 for ten years of a large team: about "
        "13 minutes of loading on 2 cores and 5 GB in PostgreSQL)",
    )
    parser.add_argument(
        "--scale-only", action="store_true", help="only the pages at scale (step 5): for --audit-rows 10000000"
    )
    parser.add_argument("--results", default="results", help="name of the results files in bench/ (.json, .md)")
    args = parser.parse_args()
    AUDIT_ROWS = max(args.audit_rows, AUDIT_FIRST_SLICE + 1)
    results_json, results_md = ROOT / "bench" / f"{args.results}.json", ROOT / "bench" / f"{args.results}.md"
    GUNICORN.update(workers=args.workers, threads=args.threads)
    # Warm-up, per-level and slow-NSML seconds. The slow scenario runs longer: its tail comes from the
    # moments when all 32 NSML answers return at once, about every 2 s, and a p99 needs many of those.
    timing = (1.0, 3.0, 6.0) if args.quick else (2.0, 10.0, 30.0)

    began = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.log"):
        stale.unlink()
    if os.getloadavg()[0] > 1.0:
        step(f"warning: load average {os.getloadavg()[0]:.1f} before starting; other work will show in the figures")
    env = bench_env()
    results: dict = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "scale_only": args.scale_only,
        "machine": machine() | {"load_average_at_start": round(os.getloadavg()[0], 2)},
        "config": {"gunicorn": dict(GUNICORN), "database_options": DB_OPTIONS, "cache": env.get("CACHE_URL", "locmem")},
    }

    # 1-2. Database, static files, data.
    data: dict = {}
    run([PY, "manage.py", "collectstatic", "--noinput", "-v0"], env)
    compile_bytecode(env)
    if args.keep_data and database_loaded():
        step("reusing the loaded `bench` database")
        run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
        data["counts_small"] = json.loads((OUT / "queries-small.json").read_text())
    else:
        step(f"creating database {DATABASE} and migrating")
        recreate_database()
        run([PY, "manage.py", "migrate", "--noinput", "-v0"], env)
        step(f"bulk load: {MEMBERS:,} members, {KEYS:,} keys, {AUDIT_FIRST_SLICE:,} audit rows")
        data["load_small_s"] = round(load(env, AUDIT_FIRST_SLICE, 0), 1)
        step(f"counting SQL per page at {AUDIT_FIRST_SLICE:,} audit rows")
        data["counts_small"] = count_queries(env, "small")
        step(f"bulk load: {AUDIT_ROWS - AUDIT_FIRST_SLICE:,} more audit rows (to {AUDIT_ROWS:,})")
        data["load_large_s"] = round(load(env, AUDIT_ROWS - AUDIT_FIRST_SLICE, AUDIT_FIRST_SLICE), 1)
    step(f"counting SQL per page at {AUDIT_ROWS:,} audit rows")
    data["counts_large"] = count_queries(env, "large")

    if args.scale_only:
        with Serving(env):
            results["scale"] = scale_results(data)
        finish(results, began, results_json, results_md)
        return

    # 3. Simulator (in this process, no state file: it answers at once) and portal.
    simulator = NsmlSimulator(
        access_key=env["NCP_ACCESS_KEY"],
        secret_key=env["NCP_SECRET_KEY"],
        api_key=env["NSML_API_KEY"],
        port=SIMULATOR_PORT,
        quiet=True,
    )
    simulator.start()
    try:
        results.update(drive(env, simulator, timing, data))
    finally:
        simulator.stop()

    finish(results, began, results_json, results_md)


def finish(results: dict, began: float, results_json: Path, results_md: Path) -> None:
    results["bench_wall_time_s"] = round(time.monotonic() - began, 1)
    results["targets"] = judge(results)
    results_json.write_text(json.dumps(results, indent=2) + "\n")
    results_md.write_text(markdown(results))
    print()
    print(results_md.read_text())
    step(f"wrote {results_json.relative_to(ROOT)} and {results_md.relative_to(ROOT)}")


class Serving:
    """One gunicorn at a time, with its memory sampler."""

    def __init__(self, env: dict[str, str], **overrides) -> None:
        self.portal = Portal(env, **overrides)
        self.sampler = MemorySampler(self.portal)

    def __enter__(self) -> Serving:
        step(f"starting gunicorn {' '.join(self.portal.command()[1:-1])}")
        self.portal.start()
        self.sampler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.sampler.stopping.set()
        self.portal.stop()


def drive(env, simulator, timing, data) -> dict:
    warmup, duration, slow_duration = timing
    results: dict = {}
    with Serving(env) as serving:
        sampler = serving.sampler
        step(f"logging in {len(BROWSERS) + len(SUBMITTERS)} members through the log-in form")
        _pools, login_latencies = log_in_members()
        results["login_post"] = {
            "requests": len(login_latencies),
            "p50_ms": rnd(percentile(login_latencies, 50)),
            "p95_ms": rnd(percentile(login_latencies, 95)),
            "note": "two at a time; PBKDF2 with Django's default iterations is the cost",
        }

        # 2-3. Per-request cost at each concurrency level, zero-latency NSML.
        per_request = []
        for users in LEVELS:
            # At one user the submission targets are ratios to /healthz: both are measured in the same
            # rounds, alternating, so a passing disturbance of the machine weighs on both alike.
            rounds = ONE_USER_ROUNDS if users == 1 else 1
            loads: dict[str, list[dict]] = {endpoint: [] for endpoint in ENDPOINTS}
            for round_ in range(rounds):
                for endpoint in ENDPOINTS:
                    step(f"{endpoint}: {users} user(s) for {duration / rounds:g} s (round {round_ + 1} of {rounds})")
                    sampler.phase = f"{endpoint}-{users}"
                    label = f"{endpoint}-{users}-{round_ + 1}"
                    loads[endpoint].append(scenario(label, {endpoint: users}, warmup, duration / rounds))
            for endpoint in ENDPOINTS:
                load = merge_loads(loads[endpoint])
                per_request.append({"endpoint": endpoint, "users": users, **summarize(load, endpoint)})
        sampler.phase = "idle"
        results["per_request"] = per_request
        by = {(row["endpoint"], row["users"]): row for row in per_request}
        results["submit_vs_healthz"] = {
            str(users): round(by["submit", users]["rps"] / by["healthz", users]["rps"], 3)
            for users in LEVELS
            if by["healthz", users]["rps"]
        }

        # 4. Slow upstream: the same browsing with NSML fast, then with 32 members waiting on a slow one.
        results["slow_upstream"] = slow_upstream(simulator, sampler, warmup, slow_duration, "main")

        # 5. Scale, as shipped.
        results["scale"] = scale_results(data)

        # 6. Memory.
        results["memory"] = memory(sampler)

    # 6. Two instances on one database and one Redis, the members' sessions made on the first.
    results["two_instances"] = two_instances(env, warmup, duration)

    # 4, again with the Dockerfile's previous threads: what a slow NSML did to it.
    with Serving(env, threads=PREVIOUS_THREADS) as serving:
        results["slow_upstream_previous"] = slow_upstream(
            simulator, serving.sampler, warmup, slow_duration / 2, f"{GUNICORN['workers']}x{PREVIOUS_THREADS}"
        )
        results["slow_upstream_previous"]["threads"] = PREVIOUS_THREADS
    return results


def two_instances(env: dict[str, str], warmup: float, duration: float) -> dict:
    """Both instances at once, each with half the users: the figures add up, and nothing fails."""
    second = Portal(env, port=PORTAL_PORT + 2)
    first = Portal(env)
    step(f"two instances (ports {first.port}, {second.port}): healthz and submit, {TWO_INSTANCES_USERS} users")
    first.start()
    second.start()
    found: dict = {"instances": 2, "users": TWO_INSTANCES_USERS}
    try:
        half = TWO_INSTANCES_USERS // 2
        for endpoint in ("healthz", "submit"):
            labels = [f"two-{endpoint}-{portal.port}" for portal in (first, second)]
            with open(OUT / "locust.log", "a") as log:
                loads = [
                    subprocess.Popen(
                        loadgen(label, {endpoint: half}, warmup, duration, host=portal.url),
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                    for label, portal in zip(labels, (first, second), strict=True)
                ]
                for load in loads:
                    load.wait()
            summaries = [summarize(json.loads((OUT / f"load-{label}.json").read_text()), endpoint) for label in labels]
            found[endpoint] = {
                "rps": round(sum(summary["rps"] for summary in summaries), 1),
                "p95_ms_per_instance": [summary["p95_ms"] for summary in summaries],
                "errors": sum(summary["errors"] for summary in summaries),
                "error_examples": [example for summary in summaries for example in summary["error_examples"]][:3],
            }
    finally:
        second.stop()
        first.stop()
    return found


def slow_upstream(simulator, sampler, warmup: float, duration: float, label: str) -> dict:
    step(f"browsing with NSML fast: {SLOW_BROWSERS} members ({label})")
    simulator.set_faults(Faults())
    sampler.phase = f"browse-{label}"
    baseline = scenario(f"browse-{label}", {"browse": SLOW_BROWSERS}, warmup, duration)
    step(f"NSML slow ({SLOW_NSML_S:g} s): {SLOW_SUBMITTERS} submitting, {SLOW_BROWSERS} browsing ({label})")
    simulator.set_faults(Faults(latency=SLOW_NSML_S))
    sampler.phase = f"slow-nsml-{label}"
    # A longer warm-up: every submitter is then waiting on NSML when the window opens.
    load = scenario(f"slow-{label}", {"submit": SLOW_SUBMITTERS, "browse": SLOW_BROWSERS}, warmup + 3, duration)
    sampler.phase = "idle"
    simulator.set_faults(Faults())
    return {
        "nsml_latency_s": SLOW_NSML_S,
        "submitters": SLOW_SUBMITTERS,
        "browsers": SLOW_BROWSERS,
        "keys": summarize(load, "keys"),
        "submit": summarize(load, "submit"),
        "keys_nsml_fast": summarize(baseline, "keys"),
    }


def scale_results(data: dict) -> dict:
    return {
        "audit_rows": AUDIT_ROWS,
        "first_slice": AUDIT_FIRST_SLICE,
        "keys": KEYS,
        "members": MEMBERS,
        "load_s": {"first_slice": data.get("load_small_s"), "rest": data.get("load_large_s")},
        "pages": scale(data["counts_small"], data["counts_large"]),
        "sql": data["counts_large"],
    }


def scale(counts_small: dict, counts_large: dict) -> list[dict]:
    step("scale: admin audit list, its filters and /keys/, one request at a time")
    sessions: dict[str, requests.Session] = {}
    pages = []
    for page in scale_pages():
        if page["user"] not in sessions:
            path = "/admin/login/" if page["user"] == ADMIN_USERNAME else "/accounts/login/"
            cookies, _ = log_in(page["user"], path)
            sessions[page["user"]] = requests.Session()
            sessions[page["user"]].cookies.update(cookies)
        large = counts_large[page["name"]]
        pages.append(
            {
                "page": page["name"],
                "url": page["url"],
                **measure_page(sessions[page["user"]], page["url"]),
                "queries_10k_rows": counts_small[page["name"]]["queries"],
                "queries_1m_rows": large["queries"],
                "estimates_10k_rows": counts_small[page["name"]].get("planner_estimates", 0),
                "estimates_1m_rows": large.get("planner_estimates", 0),
                "full_table_count": large["full_table_count"],
                "seq_scans_of_audit": large["seq_scans_of_audit"],
            }
        )
    return pages


def memory(sampler: MemorySampler) -> dict:
    per_worker: dict[int, float] = {}
    for phase, peaks in sampler.peaks.items():
        if phase.startswith(("submit", "slow-nsml")):
            for pid, peak in peaks.items():
                per_worker[pid] = max(per_worker.get(pid, 0.0), peak)
    return {
        "peak_rss_mib_per_worker_under_submissions": {str(pid): round(mib, 1) for pid, mib in per_worker.items()},
        "peak_rss_mib_by_phase": {phase: round(max(peaks.values()), 1) for phase, peaks in sampler.peaks.items()},
        "vmhwm_mib_per_worker_at_end": {str(pid): round(mib, 1) for pid, mib in sampler.high_water().items()},
        "max_threads_per_worker_by_phase": {phase: max(threads.values()) for phase, threads in sampler.threads.items()},
    }


def judge(results: dict) -> list[dict]:
    verdicts = [] if results["scale_only"] else per_request_verdicts(results)
    verdicts += scale_verdicts(results)
    if not results["scale_only"]:  # a 10,000,000-row load alone takes longer
        verdicts.append(
            {
                "target": "bench/run.py wall time < 15 min (make install comes on top)",
                "value": results["bench_wall_time_s"],
                "holds": results["bench_wall_time_s"] < TARGETS["wall_time_s"],
            }
        )
    return verdicts


def per_request_verdicts(results: dict) -> list[dict]:
    verdicts = []
    by = {(row["endpoint"], row["users"]): row for row in results["per_request"]}
    ratio = results["submit_vs_healthz"].get("1")
    verdicts.append(
        {
            "target": f"submissions/s at one member >= {TARGETS['submit_vs_healthz_rps']:g} x /healthz/s",
            "value": ratio,
            "holds": ratio is not None and ratio >= TARGETS["submit_vs_healthz_rps"],
        }
    )
    overhead, floor = by["submit", 1]["overhead_p95_ms"], by["healthz", 1]["server_p95_ms"]
    times = round(overhead / floor, 1) if overhead and floor else None
    verdicts.append(
        {
            "target": f"submission overhead p95 <= {TARGETS['overhead_vs_healthz_p95']:g} x /healthz server p95 "
            f"(one member; {overhead} ms against {floor} ms)",
            "value": times,
            "holds": times is not None and times <= TARGETS["overhead_vs_healthz_p95"],
        }
    )
    peak = max(results["memory"]["peak_rss_mib_per_worker_under_submissions"].values(), default=None)
    verdicts.append(
        {
            "target": f"peak resident memory per worker under submissions <= {TARGETS['peak_worker_mib']:g} MiB",
            "value": peak,
            "holds": peak is not None and peak <= TARGETS["peak_worker_mib"],
        }
    )
    keys = results["slow_upstream"]["keys"]
    verdicts.append(
        {
            "target": f"/keys/ p99 < {TARGETS['isolation_p99_ms']:g} ms while 32 submissions wait on a 2 s NSML",
            "value": keys["p99_ms"],
            "holds": keys["p99_ms"] is not None and keys["p99_ms"] < TARGETS["isolation_p99_ms"] and not keys["errors"],
        }
    )
    two = results["two_instances"]
    verdicts.append(
        {
            "target": "two instances on one database and one Redis: no errors",
            "value": two["healthz"]["errors"] + two["submit"]["errors"],
            "holds": two["healthz"]["errors"] + two["submit"]["errors"] == 0,
        }
    )
    return verdicts


def scale_verdicts(results: dict) -> list[dict]:
    verdicts = []
    for page in results["scale"]["pages"]:
        if page["page"] in NOT_TARGETED:
            continue
        # The paginator's one planner estimate starts once a list passes 10,000 rows; any other query more
        # at the larger history would grow with it.
        constant = page["queries_10k_rows"] - page.get("estimates_10k_rows", 0) == page["queries_1m_rows"] - page.get(
            "estimates_1m_rows", 0
        )
        target = page_target_ms(page["page"])
        verdicts.append(
            {
                "target": f"{page['page']}: p95 < {target:g} ms, no full-table COUNT, queries constant",
                "value": page["p95_ms"],
                "holds": page["p95_ms"] < target
                and not page["full_table_count"]
                and constant
                and page["statuses"] == [200],
            }
        )
    return verdicts


def cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def request_row(label: str, row: dict) -> str:
    return (
        f"| {label} | {row['requests']:,} | {cell(row['rps'])} | {cell(row['p50_ms'])} | {cell(row['p95_ms'])} | "
        f"{cell(row['p99_ms'])} | {cell(row['max_ms'])} | {row['errors']} |"
    )


def markdown(results: dict) -> str:
    config = results["config"]["gunicorn"]
    m = results["machine"]
    command = "`bench/run.py` (make bench)"
    if results["scale_only"]:
        command = f"`bench/run.py --audit-rows {results['scale']['audit_rows']} --scale-only`"
    lines = [
        "# Benchmark results" + (" at scale" if results["scale_only"] else ""),
        "",
        f"Generated {results['generated']} by {command}"
        + (" (--quick: short scenarios, not for publishing)" if results["quick"] else "")
        + f". Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}; {m['note']} "
        f"(load average {m['load_average_at_start']} at the start).",
        f"Serving: gunicorn {config['worker_class']}, {config['workers']} workers × {config['threads']} threads, "
        f"keep-alive {config['keep_alive']} s; DATABASE_URL `?{results['config']['database_options']}`; "
        "production settings (DEBUG off).",
        "",
    ]
    if results["scale_only"]:
        return "\n".join(lines + scale_section(results) + targets_section(results))
    lines += [
        "## Per-request cost (NSML simulator with no latency)",
        "",
        "Closed loop: each user sends its next request when the last one is answered. Latency as the "
        "load generator saw it; `server` is Server-Timing's total (inside Django); `load avg` is the machine's "
        "1-minute load average after the run (the benchmark alone keeps it near 2-3; more is other work).",
        "",
        "| endpoint | users | req/s | p50 ms | p95 ms | p99 ms | server p50 | server p95 | errors | load avg |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {
        "healthz": "`/healthz`",
        "login": "log-in page",
        "keys": "`/keys/` (member, ~10 keys)",
        "submit": "key submission",
    }
    for row in results["per_request"]:
        lines.append(
            f"| {names[row['endpoint']]} | {row['users']} | {cell(row['rps'])} | {cell(row['p50_ms'])} | "
            f"{cell(row['p95_ms'])} | {cell(row['p99_ms'])} | {cell(row['server_p50_ms'])} | "
            f"{cell(row['server_p95_ms'])} | {row['errors']} | {row['load_average_after']} |"
        )
    lines += [
        "",
        "Key submission: throughput against `/healthz` at the same concurrency, and the portal's own time "
        "(Server-Timing total minus nsml).",
        "",
        "| users | submissions/s ÷ `/healthz`/s | overhead p50 ms | overhead p95 ms | NSML p50 ms |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["per_request"]:
        if row["endpoint"] == "submit":
            ratio = results["submit_vs_healthz"].get(str(row["users"]))
            lines.append(
                f"| {row['users']} | {'–' if ratio is None else f'{ratio:.3f}'} | "
                f"{cell(row['overhead_p50_ms'])} | {cell(row['overhead_p95_ms'])} | {cell(row['nsml_p50_ms'])} |"
            )
    login = results["login_post"]
    lines += [
        "",
        f"Log-in (POST, {login['requests']} members, {login['note']}): p50 {cell(login['p50_ms'])} ms, "
        f"p95 {cell(login['p95_ms'])} ms.",
        "",
    ]
    slow, previous = results["slow_upstream"], results["slow_upstream_previous"]
    lines += [
        f"## Slow NSML ({slow['nsml_latency_s']:g} s per call)",
        "",
        f"{slow['submitters']} members submit keys continuously (each waits {slow['nsml_latency_s']:g} s on NSML) "
        f"while {slow['browsers']} others load `/keys/` four times a second each.",
        "",
        "| threads | request | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, run_ in ((config["threads"], slow), (previous["threads"], previous)):
        prefix = f"| {config['workers']} × {threads} "
        lines.append(prefix + request_row("`/keys/`, NSML fast", run_["keys_nsml_fast"]))
        lines.append(prefix + request_row("`/keys/`, NSML slow", run_["keys"]))
        lines.append(prefix + request_row("key submission, NSML slow", run_["submit"]))
    lines.append("")
    lines += scale_section(results)
    two = results["two_instances"]
    single = {row["endpoint"]: row for row in results["per_request"] if row["users"] == TWO_INSTANCES_USERS}
    lines += [
        f"## Two instances ({two['users']} users split over two gunicorns, one PostgreSQL, one Redis)",
        "",
        "Each instance as configured above; the members' sessions were made on the first, and serve on both.",
        "",
        "| request | req/s, both | req/s, one instance, same users | p95 ms per instance | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for endpoint in ("healthz", "submit"):
        row = two[endpoint]
        p95 = " / ".join(cell(value) for value in row["p95_ms_per_instance"])
        one = cell(single[endpoint]["rps"]) if endpoint in single else "–"
        lines.append(f"| {names[endpoint]} | {cell(row['rps'])} | {one} | {p95} | {row['errors']} |")
    lines += [
        "",
        "On one machine the two instances share its two cores, so they add no throughput here; the point is "
        "that they serve as one portal. On N machines, throughput grows with N until PostgreSQL is the limit.",
        "",
    ]
    memory_ = results["memory"]
    peaks = ", ".join(f"{mib:,.1f}" for mib in memory_["peak_rss_mib_per_worker_under_submissions"].values())
    lines += [
        "## Memory",
        "",
        f"Peak resident memory per gunicorn worker under the submission loads: {peaks} MiB "
        f"(sampled five times a second; at most {max(memory_['max_threads_per_worker_by_phase'].values(), default=0)}"
        " threads in a worker).",
        "",
    ]
    return "\n".join(lines + targets_section(results))


def scale_section(results: dict) -> list[str]:
    scale_ = results["scale"]
    first = scale_.get("first_slice", 10_000)
    lines = [
        f"## Scale: {scale_['audit_rows']:,} audit rows, {scale_['keys']:,} keys, {scale_['members']:,} members",
        "",
        f"One request at a time through gunicorn, {SCALE_REQUESTS} after {SCALE_WARMUP} warm-up (fewer for a page "
        f"slower than {SCALE_PAGE_BUDGET_S:g} s in all). SQL counted in a separate process with Django's test client, "
        f"at {first:,} and at {scale_['audit_rows']:,} audit rows; past 10,000 rows a list's count is PostgreSQL's "
        "estimate (keys/pagination.py), one EXPLAIN, shown in brackets.",
        "",
        "| page | requests | p50 ms | p95 ms | SQL queries | full-table COUNT | seq scans of audit |",
        "| --- | ---: | ---: | ---: | ---: | :---: | ---: |",
    ]
    for page in scale_["pages"]:
        queries = f"{page['queries_10k_rows']} → {page['queries_1m_rows']}"
        estimates = (page.get("estimates_10k_rows", 0), page.get("estimates_1m_rows", 0))
        if any(estimates):
            queries += f" ({estimates[0]} → {estimates[1]} estimate)"
        lines.append(
            f"| {page['page']} | {page['requests']} | {cell(page['p50_ms'])} | {cell(page['p95_ms'])} | {queries} | "
            f"{'yes' if page['full_table_count'] else 'no'} | {page['seq_scans_of_audit']} |"
        )
    load = scale_["load_s"]
    if load.get("rest") is not None:
        lines += ["", f"Loading took {cell(load['first_slice'])} s and then {cell(load['rest'])} s (COPY, indexes)."]
    return lines + [""]


def targets_section(results: dict) -> list[str]:
    lines = ["## Targets", "", "| target | value | holds |", "| --- | ---: | :---: |"]
    for verdict in results["targets"]:
        value = verdict["value"]
        # A ratio below 1 (submissions against /healthz) keeps its three decimals: 0.132 is not 0.1.
        shown = f"{value:.3f}" if isinstance(value, float) and value < 1 else cell(value)
        lines.append(f"| {verdict['target']} | {shown} | {'yes' if verdict['holds'] else '**no**'} |")
    return lines + ["", f"`bench/run.py` took {results['bench_wall_time_s']:,.0f} s.", ""]


if __name__ == "__main__":
    main()
