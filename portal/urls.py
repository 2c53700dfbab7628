from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from keys import oidc
from keys.views import PortalLoginView, confirm_password, healthz, readyz, set_language, token_list, token_revoke
from portal.lazy_urls import lazy_include
from portal.metrics import metrics

# The database or Redis unreachable: a 503 that says so, not the 500 of a bug (portal/outages.py).
handler500 = "portal.outages.server_error"
# A request the portal cannot read (a NUL character in its address): the portal's 400 page, JSON under /api/.
handler400 = "portal.bad_requests.bad_request"


class IconRedirect(RedirectView):
    """To the icon's static URL, found at the request (the manifest is read then, not at import)."""

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("portal/icon.svg")


urlpatterns = [
    # Only the methods each view uses: Django's views also answer OPTIONS (and PUT on a form) otherwise.
    path("", RedirectView.as_view(pattern_name="keys:list", permanent=False, http_method_names=["get", "head"])),
    path("accounts/login/", PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", oidc.LogoutView.as_view(http_method_names=["post"]), name="logout"),
    path("accounts/confirm-password/", confirm_password, name="confirm_password"),
    # OpenID Connect (keys/oidc.py): 404 unless configured. Register <portal>/oidc/callback/ at the provider.
    path("oidc/authenticate/", oidc.authenticate_view, name="oidc_authentication_init"),
    path("oidc/callback/", oidc.callback_view, name="oidc_authentication_callback"),
    path("keys/", include("keys.urls")),
    path("tokens/", token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_revoke, name="token_revoke"),
    # django-ninja and pydantic load at the API's first request: a worker serving only pages never does.
    lazy_include("api/v1/", "keys.api_urls", app_name="ninja", namespace="api"),
    # Django's language switch, which also keeps a member's choice for their emails (keys.views.set_language).
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    # Browsers ask for it whatever the pages link to: the icon, not a 404 logged on every first visit.
    path("favicon.ico", IconRedirect.as_view(permanent=True, http_method_names=["get", "head"])),
]
