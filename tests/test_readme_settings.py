"""README's settings table is the operator's list of knobs: it names every variable the portal reads, and
only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where the environment is read: settings.py (django-environ), gunicorn.conf.py and ensure_admin (os.environ).
READERS = [
    ROOT / "portal" / "settings.py",
    ROOT / "gunicorn.conf.py",
    ROOT / "keys/management/commands/ensure_admin.py",
]
READ = re.compile(r'(?:env\.\w+\(|_number\(env\.\w+, |_count\(|_bool\(|os\.environ\.get\()"([A-Z][A-Z0-9_]+)"')


def variables_read() -> set[str]:
    return {name for path in READERS for name in READ.findall(path.read_text())}


def variables_in_the_table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def test_the_reader_finds_the_settings():
    assert {"DATABASE_URL", "NSML_TIMEOUT", "GUNICORN_THREADS", "DJANGO_SUPERUSER_PASSWORD"} <= variables_read()


def test_the_settings_table_names_every_variable_the_portal_reads():
    assert variables_read() - variables_in_the_table() == set()


def test_the_settings_table_names_no_variable_the_portal_does_not_read():
    assert variables_in_the_table() - variables_read() == set()
