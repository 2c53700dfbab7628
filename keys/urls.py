from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path("", views.key_list, name="list"),
    path("new/", views.key_new, name="new"),
    path("<int:pk>/", views.key_detail, name="detail"),
    path("<int:pk>/revoke/", views.key_revoke, name="revoke"),
    path("<int:pk>/rotate/", views.key_rotate, name="rotate"),
    path("<int:pk>/expiry/", views.key_expiry, name="expiry"),
]
