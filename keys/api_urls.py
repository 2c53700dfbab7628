"""The API's URLconf, imported at the API's first request (portal/lazy_urls.py), not at start-up.

portal/urls.py names its namespace: ninja's ("ninja", api.urls_namespace), which a test holds it to.
"""

from keys.api import api

urlpatterns = api.urls[0]
