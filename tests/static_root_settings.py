"""portal.settings with a STATIC_ROOT of a test's own (PORTAL_TEST_STATIC_ROOT), for portal processes started before
or after `collectstatic` there (tests/live_portal.py, static_root_env). Django's manifest storage stands in for
WhiteNoise's: the same manifest, read the same way, without the minute WhiteNoise's compression takes to collect."""

import os
from pathlib import Path

from portal.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ["PORTAL_TEST_STATIC_ROOT"])
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
