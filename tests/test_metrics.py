"""/metrics: off without a token, refused without the right one, and figures that move with what members do;
under gunicorn, every worker's counters in one scrape."""

from __future__ import annotations

import gzip
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from keys import selectors
from keys.checks import check_metrics_token
from keys.models import EMAIL_NOTICE_WAITING, EmailNotice, ReconcilePass, RegisteredKey
from nsml.simulator import Faults
from tests.helpers import nsml_sync, postgresql_only
from tests.live_portal import Gunicorn, portal_database, portal_env

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789"
CLOSE = {"Connection": "close"}
METRICS = "/metrics"


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, (label, value), ...): value} from the exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def scrape(client) -> dict[tuple, float]:
    response = client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def readme_metrics_table() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    return readme.split("| metric | what |")[1].split("\n\n")[0]


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_it_is_not_there_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_it_asks_for_a_bearer_token(client, token):
    response = client.get(METRICS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get(METRICS, HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_it_refuses_a_wrong_token(client, token):
    assert client.get(METRICS, HTTP_AUTHORIZATION="Bearer metrics-token-0123456780").status_code == 403
    assert client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 403


def test_a_head_request_gets_the_scrape_s_status_without_its_body(client, token):
    """Found checking the endpoint with curl -I: HEAD /metrics answered 405 while GET answered 200."""
    allowed = client.head(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    refused = client.head(METRICS, HTTP_AUTHORIZATION="Bearer metrics-token-0123456780")

    assert (allowed.status_code, allowed.content) == (200, b"")
    assert allowed["Content-Type"].startswith("text/plain")
    assert refused.status_code == 403
    assert client.post(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_a_scrape_that_accepts_gzip_gets_it_compressed(client, token):
    """Found reading a scrape: Prometheus sends `Accept-Encoding: gzip`, and /metrics answered every scrape
    uncompressed (tens of kilobytes once the view and status labels multiply)."""
    plain = client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    zipped = client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_ACCEPT_ENCODING="gzip")

    assert "Content-Encoding" not in plain
    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert zipped["Content-Type"].startswith("text/plain")
    assert samples(gzip.decompress(zipped.content).decode())[("portal_database_up",)] == 1
    # the token is still asked for, compressed or not
    assert client.get(METRICS, HTTP_ACCEPT_ENCODING="gzip").status_code == 401
    wrong = client.get(METRICS, HTTP_AUTHORIZATION="Bearer wrong-token-0123456789", HTTP_ACCEPT_ENCODING="gzip")
    assert wrong.status_code == 403


def test_the_https_redirect_is_labelled_as_one(client, settings, token):
    """Found reading a scrape with DJANGO_HTTPS=true: every plain-HTTP request answered with the redirect to
    https:// was counted as view="unmatched", as if no page had that address."""
    settings.SECURE_SSL_REDIRECT = True

    def scrape_over_https() -> dict[tuple, float]:
        return samples(client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", secure=True).content.decode())

    before = scrape_over_https()
    redirected = client.get(reverse("keys:list"))
    missing = client.get("/no-such-page/", secure=True)
    after = scrape_over_https()

    assert (redirected.status_code, redirected["Location"]) == (301, "https://testserver/keys/")
    assert missing.status_code == 404

    def moved(view: str, status: str) -> float:
        key = ("portal_http_requests_total", ("method", "GET"), ("status", status), ("view", view))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("https_redirect", "301") == 1
    assert moved("unmatched", "301") == 0
    assert moved("unmatched", "404") == 1  # no route stays unmatched


def test_a_static_file_is_labelled_static_not_unmatched(settings, tmp_path, token):
    """Found reading a live portal's scrape: every stylesheet and script WhiteNoise served (GET 200, a browser's
    304) was counted as view="unmatched", with the scanners' 404s, as if no page had that address."""
    (tmp_path / "portal").mkdir()
    (tmp_path / "portal" / "site.css").write_text("body { margin: 0 }\n")
    settings.STATIC_ROOT = tmp_path
    client = Client()  # WhiteNoise reads STATIC_ROOT when the client's handler first loads the middleware
    before = scrape(client)

    served = client.get("/static/portal/site.css")
    again = client.get("/static/portal/site.css", HTTP_IF_NONE_MATCH=served["ETag"])
    missing = client.get("/static/portal/none.css")
    after = scrape(client)

    assert (served.status_code, again.status_code, missing.status_code) == (200, 304, 404)

    def moved(view: str, status: str) -> float:
        key = ("portal_http_requests_total", ("method", "GET"), ("status", status), ("view", view))
        return after.get(key, 0) - before.get(key, 0)

    assert (moved("static", "200"), moved("static", "304")) == (1, 1)
    assert (moved("unmatched", "200"), moved("unmatched", "304")) == (0, 0)
    assert moved("unmatched", "404") == 1  # a file that is not there matched nothing


def test_a_failure_past_django_s_500_page_is_counted_and_logged_as_the_500_gunicorn_answers(
    settings, tmp_path, token, caplog
):
    """Found running the portal without `collectstatic`: every page, and the 404 and 500 pages themselves, failed
    on the missing static manifest, so each error escaped Django and gunicorn answered its own 500. The scrape
    showed no 500 at all (the request was never counted), and no line named the request or its id."""
    client = Client(raise_request_exception=False)
    before = scrape(client)
    settings.LOG_REQUESTS = True
    settings.STATIC_ROOT = tmp_path  # empty: no manifest, as before collectstatic
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

    with caplog.at_level("INFO", logger="portal.request"), pytest.raises(ValueError, match="manifest"):
        client.get("/no-such-page/", HTTP_X_REQUEST_ID="escaped-404")
    with pytest.raises(ValueError, match="manifest"):
        client.get(reverse("login"))

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    after = scrape(client)

    def moved(view: str, status: str) -> float:
        key = ("portal_http_requests_total", ("method", "GET"), ("status", status), ("view", view))
        return after.get(key, 0) - before.get(key, 0)

    assert (moved("unmatched", "500"), moved("login", "500")) == (1, 1)
    assert moved("unmatched", "404") == 0
    [line] = [record for record in caplog.records if getattr(record, "request_id", "") == "escaped-404"]
    assert (line.status, line.getMessage()) == (500, f"GET /no-such-page/ 500 {line.duration_ms:.1f}ms")


def test_api_requests_are_labelled_by_the_operation_that_served_them(
    client, member, nsml, new_public_key, token, token_for
):
    """Found by an operator reading a scrape: the API's POST /api/v1/keys was counted, and timed, as
    view="api:list_keys" and its DELETE as "api:get_key", the names of the first operation at each address."""
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token_for(member)}"}
    before = scrape(client)
    created = client.post(
        "/api/v1/keys", {"title": "alice-laptop", "key": new_public_key()}, "application/json", **bearer
    )
    listed = client.get("/api/v1/keys", **bearer)
    revoked = client.delete(f"/api/v1/keys/{created.json()['id']}", **bearer)
    read = client.get(f"/api/v1/keys/{created.json()['id']}", **bearer)
    after = scrape(client)

    assert [created.status_code, listed.status_code, revoked.status_code, read.status_code] == [201, 200, 200, 200]

    def moved(view: str, method: str, status: str) -> float:
        key = ("portal_http_requests_total", ("method", method), ("status", status), ("view", view))
        return after.get(key, 0) - before.get(key, 0)

    def timed(view: str, status: str) -> float:
        key = ("portal_http_request_duration_seconds_count", ("status", status), ("view", view))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("api:create_key", "POST", "201") == 1 and timed("api:create_key", "201") == 1
    assert moved("api:list_keys", "GET", "200") == 1 and timed("api:list_keys", "200") == 1
    assert moved("api:revoke_key", "DELETE", "200") == 1 and timed("api:revoke_key", "200") == 1
    assert moved("api:get_key", "GET", "200") == 1 and timed("api:get_key", "200") == 1
    assert moved("api:list_keys", "POST", "201") == 0


def test_a_submission_moves_its_counters_and_nsml_s(member_client, nsml, new_public_key, token):
    before = scrape(member_client)

    member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})
    member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})  # the title is taken

    after = scrape(member_client)

    def moved(*key) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert moved("portal_key_submissions_total", ("outcome", "registered")) == 1
    assert moved("portal_key_submissions_total", ("outcome", "refused")) == 1
    assert moved("portal_nsml_requests_total", ("operation", "create"), ("outcome", "success")) == 1
    assert moved("portal_nsml_request_duration_seconds_count", ("operation", "create")) == 1
    assert moved("portal_nsml_request_duration_seconds_sum", ("operation", "create")) > 0
    post = ("portal_http_requests_total", ("method", "POST"), ("status", "302"), ("view", "keys:new"))
    assert moved(*post) == 1
    assert moved("portal_http_request_duration_seconds_count", ("status", "302"), ("view", "keys:new")) == 1
    assert moved("portal_http_request_duration_seconds_count", ("status", "200"), ("view", "keys:new")) == 1


def test_nsml_failures_count_by_kind(member_client, nsml, new_public_key, token):
    nsml.set_faults(Faults(fail_status=401))
    before = scrape(member_client)

    member_client.post(reverse("keys:new"), {"title": "laptop", "key": new_public_key()})

    after = scrape(member_client)
    key = ("portal_nsml_requests_total", ("operation", "create"), ("outcome", "credentials"))
    assert after.get(key, 0) - before.get(key, 0) == 1
    failed = ("portal_key_submissions_total", ("outcome", "failed"))
    assert after.get(failed, 0) - before.get(failed, 0) == 1


def test_it_reads_keys_by_status_and_the_last_pass_from_the_database(member_client, member, register, token):
    register(member, "one")
    register(member, "two")
    RegisteredKey.objects.filter(title="two").update(status=RegisteredKey.Status.REVOKED)
    finished = timezone.now() - timedelta(minutes=3)
    ReconcilePass.objects.create(started_at=finished - timedelta(seconds=2), finished_at=finished, succeeded=True)
    ReconcilePass.objects.create(finished_at=timezone.now(), succeeded=False)

    found = scrape(member_client)

    assert found[("portal_keys", ("status", "active"))] == 1
    assert found[("portal_keys", ("status", "revoked"))] == 1
    assert found[("portal_keys", ("status", "pending"))] == 0
    assert found[("portal_reconcile_last_success_timestamp_seconds",)] == pytest.approx(finished.timestamp())


def test_it_reads_the_email_outbox_from_the_database(client, token):
    """An operator alerts on mail trouble: notices waiting for the mail server, and given up on."""
    now = timezone.now()

    def notice(**state) -> EmailNotice:
        return EmailNotice.objects.create(kind="key_added", to=["a@example.com"], subject="s", body="b", **state)

    for _ in range(3):
        notice(next_attempt_at=now + timedelta(minutes=1), attempts=1, last_error="SMTP 451: try later")
    notice(sent_at=now)
    notice(gave_up_at=now, attempts=40)
    notice(dropped_at=now, last_error="dropped")  # a reminder whose key changed: no mail trouble

    found = scrape(client)

    assert found[("portal_email_notices", ("state", "waiting"))] == 3
    assert found[("portal_email_notices", ("state", "given_up"))] == 1


@postgresql_only("PostgreSQL's plan")
def test_the_outbox_gauges_read_their_partial_indexes_not_every_notice():
    """A scrape at 100,000 notices sent: the two counts come from the waiting and given-up partial indexes."""
    with connection.cursor() as cursor:
        cursor.execute(
            'INSERT INTO keys_emailnotice (kind, "to", bcc, subject, body, headers, created_at, attempts, '
            "last_error, next_attempt_at, sent_at, gave_up_at, dropped_at) "
            "SELECT 'key_added', '[]', '[]', 's', 'b', '{}', now(), 1, '', "
            "CASE WHEN n <= 5 THEN now() END, CASE WHEN n > 10 THEN now() END, "
            "CASE WHEN n BETWEEN 6 AND 8 THEN now() END, CASE WHEN n BETWEEN 9 AND 10 THEN now() END "
            "FROM generate_series(1, 100000) AS n"
        )
        cursor.execute("ANALYZE keys_emailnotice")
    plans = {}
    for state, query in (
        ("waiting", EmailNotice.objects.filter(EMAIL_NOTICE_WAITING)),
        ("given_up", EmailNotice.objects.filter(gave_up_at__isnull=False)),
    ):
        sql, params = query.values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) AS counted", params)
            plans[state] = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan" not in plans["waiting"] and "email_notice_waiting" in plans["waiting"], plans["waiting"]
    assert "Seq Scan" not in plans["given_up"] and "email_notice_given_up" in plans["given_up"], plans["given_up"]
    assert selectors.email_notice_counts() == {"waiting": 5, "given_up": 3}


def test_log_ins_count_by_outcome(client, member, token):
    before = scrape(client)

    client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    after = scrape(client)
    for outcome in ("failed", "success"):
        key = ("portal_logins_total", ("outcome", outcome))
        assert after.get(key, 0) - before.get(key, 0) == 1


def test_reconcile_passes_count_by_outcome(client, member, nsml, register, token):
    lost = register(member)
    nsml.remove_key("laptop", lost.nsml_name)
    before = scrape(client)

    nsml_sync("--apply")  # repairs the lost key: drift
    nsml_sync("--apply")  # nothing left to do
    nsml.set_faults(Faults(drop=True))
    assert register(member, "desktop").status == RegisteredKey.Status.PENDING  # NSML's answer lost
    nsml.set_faults(Faults())
    _, out = nsml_sync("--apply")  # nothing to repair, but the key still waits on NSML
    nsml.set_faults(Faults(fail_status=503))
    nsml_sync("--apply")  # NSML cannot be listed

    after = scrape(client)
    assert "Not settled yet: 1 key(s)" in out
    for outcome in ("drift", "in_sync", "unsettled", "nsml_unavailable"):
        key = ("portal_reconcile_passes_total", ("outcome", outcome))
        assert after.get(key, 0) - before.get(key, 0) == 1, outcome
    # Found running it: the pass that said "Not settled yet" was counted in_sync.
    readme_row = next(line for line in readme_metrics_table().splitlines() if "portal_reconcile_passes_total" in line)
    served = {labels[0][1] for name, *labels in after if name == "portal_reconcile_passes_total"}
    assert served >= {"drift", "in_sync", "unsettled", "nsml_unavailable"}
    assert [outcome for outcome in sorted(served) if f"`{outcome}`" not in readme_row] == []


def test_every_worker_adds_up_in_one_scrape(tmp_path: Path):
    metrics_dir = tmp_path / "metrics"
    with portal_database(tmp_path) as database_url:
        env = portal_env(database_url, METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=2, threads=4)

        def scrape() -> dict:
            headers = {"Authorization": f"Bearer {TOKEN}", **CLOSE}
            return samples(requests.get(f"{portal.url}{METRICS}", headers=headers, timeout=10).text)

        def writers() -> set[str]:
            return {path.name.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}

        def healthz_batch() -> None:
            # New connections, four at a time: whichever worker accepts first takes each, so both take some.
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: requests.get(f"{portal.url}/healthz", timeout=10, headers=CLOSE), range(20)))

        try:
            # The probes that told Gunicorn() the portal was up count too: as many as a busy machine needed.
            before = scrape()
            sent = 0
            # A busy machine can leave one worker to accept everything for a while: send until both have served.
            while sent < 60 or (len(writers()) < 2 and sent < 1000):
                healthz_batch()
                sent += 20
            scraped = [scrape() for _ in range(6)]
        finally:
            portal.stop()
    assert len(writers()) >= 2, f"one worker served all {sent} requests: {sorted(writers())}"
    # Found reading a first scrape: a labelled series was missing until its first event, so an alert on
    # rate(portal_key_submissions_total{outcome="failed"}) had no data, not zero, on a quiet portal.
    for series in (
        ("portal_key_submissions_total", ("outcome", "failed")),
        ("portal_logins_total", ("outcome", "lockout")),
        ("portal_reconcile_passes_total", ("outcome", "busy")),
        ("portal_nsml_requests_total", ("operation", "delete"), ("outcome", "no_answer")),
        ("portal_nsml_request_duration_seconds_count", ("operation", "create")),
    ):
        assert before.get(series) == 0, series
    healthz = ("portal_http_requests_total", ("method", "GET"), ("status", "200"), ("view", "healthz"))
    # Whichever worker answers the scrape, it tells the whole portal's count, not its own share.
    assert [found[healthz] - before[healthz] for found in scraped] == [float(sent)] * 6


@pytest.mark.parametrize(
    "value",
    [
        "short-token",
        " " * 20,
        "metrics token with spaces",
        "\u201cmetrics-token-0123456789\u201d",
        "metrics-t\u00f6ken-0123456",
    ],
    ids=["short", "blank", "spaces", "typographic-quotes", "beyond-ascii"],
)
def test_a_token_no_scrape_could_safely_send_stops_the_portal_at_start_up(settings, value):
    """The blank one found by the operator QA pass: twenty spaces passed the length check, and no scrape could
    ever match it. Those beyond ASCII found by another: the portal started, and a scrape sending the token (as
    UTF-8, as curl and Prometheus do) was refused 403 for ever."""
    settings.METRICS_TOKEN = value

    with pytest.raises(SystemCheckError, match="keys.E005"):
        call_command("check")


def test_a_token_of_ascii_punctuation_is_accepted_and_lets_a_scrape_in(client, settings):
    settings.METRICS_TOKEN = "Tok~en!#$%&'*+-.^_`|0123456789"
    assert check_metrics_token(None) == []

    response = client.get(METRICS, headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"})

    assert response.status_code == 200


def test_every_metric_a_scrape_serves_is_in_the_readme(member_client, member, register, token):
    """The README's table is what an operator writes alerts from: portal_database_up was served and not named."""
    register(member)
    nsml_sync("--apply")
    response = member_client.get(METRICS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    table = readme_metrics_table()

    # `_created` series come only from a registry without PROMETHEUS_MULTIPROC_DIR, as in this test process.
    portal_families = sorted(name for name in families if name.startswith("portal_") and not name.endswith("_created"))
    assert "portal_database_up" in portal_families
    unnamed = [name for name in portal_families if not re.search(rf"`{name}(_total)?[{{`]", table)]
    assert unnamed == [], unnamed
