"""The image runs Python as its Dockerfile's ENV sets it: python -OO among the rest (PYTHONOPTIMIZE=2: no
docstrings, no assert statements), for a worker's memory (README.md, Performance). The portal served that way
does what it does under the suite's own interpreter: nothing it shows comes from a docstring, and no check it
makes is an assert."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.helpers import bench_run_module, generate_private_key, private_text, public_line
from tests.live_portal import Gunicorn, Member, create_members, live_simulator, portal_database, portal_env, read_rows


@pytest.fixture(scope="module")
def image_settings() -> dict[str, str]:
    return bench_run_module().image_memory_settings()


def test_the_image_runs_python_without_docstrings_and_asserts(image_settings):
    assert image_settings["PYTHONOPTIMIZE"] == "2"


def make_admin(database_url: str, username: str) -> None:
    script = (
        "from django.contrib.auth.models import User\n"
        f"User.objects.filter(username={username!r}).update(is_staff=True, is_superuser=True)\n"
        "rows = []\n"
    )
    read_rows(database_url, script)


def test_a_member_and_an_admin_are_served_as_under_the_suites_interpreter(tmp_path: Path, image_settings, db):
    key = public_line(generate_private_key("ed25519"), "erin@laptop")
    pasted_private = private_text(generate_private_key("ed25519"))
    with live_simulator() as simulator, portal_database(tmp_path) as database_url:
        create_members(database_url, ["erin", "ada"])
        make_admin(database_url, "ada")
        env = portal_env(database_url, NSML_API_URL=simulator.base_url, **image_settings)
        portal = Gunicorn(env, tmp_path / "gunicorn.log", workers=1, threads=4)
        try:
            member = Member(portal.url, "erin")
            member.log_in()
            added = member.post("/keys/new/", {"title": "erin-laptop", "key": key})
            listing = member.get("/keys/")
            refused = member.post("/keys/new/", {"title": "oops", "key": pasted_private})
            admin = Member(portal.url, "ada")
            admin.log_in()
            admin_keys = admin.get("/admin/keys/registeredkey/")
            audit = admin.get("/admin/keys/auditevent/")
            schema = member.get("/api/v1/openapi.json")
        finally:
            portal.stop()
        held = simulator.held_keys()

    assert added.status_code == 302
    assert listing.status_code == 200 and "erin-laptop" in listing.text and "Active" in listing.text
    assert refused.status_code == 200
    assert "private key" in refused.text and pasted_private.splitlines()[1] not in refused.text
    assert admin_keys.status_code == 200 and "erin-laptop" in admin_keys.text
    assert audit.status_code == 200 and "erin" in audit.text
    # The API's document word for word as the suite's own interpreter serves it: none of its summaries or
    # descriptions falls back to a docstring that -OO drops.
    assert schema.status_code == 200
    assert schema.json() == Client().get("/api/v1/openapi.json").json()
    assert [held_key["title"] for held_key in held] == ["erin-laptop"]
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
