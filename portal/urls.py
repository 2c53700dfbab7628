from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from keys.views import PortalLoginView, confirm_password, healthz

urlpatterns = [
    # Only the methods each view uses: Django's views also answer OPTIONS (and PUT on a form) otherwise.
    path("", RedirectView.as_view(pattern_name="keys:list", permanent=False, http_method_names=["get", "head"])),
    path("accounts/login/", PortalLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(http_method_names=["post"]), name="logout"),
    path("accounts/confirm-password/", confirm_password, name="confirm_password"),
    path("keys/", include("keys.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
