from __future__ import annotations

from django.contrib import admin

from keys.models import AuditEvent, RegisteredKey


@admin.register(RegisteredKey)
class RegisteredKeyAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "key_type", "bits", "fingerprint_sha256", "status", "created_at"]
    list_filter = ["status", "key_type", ("owner", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["title", "owner__username", "owner__email", "fingerprint_sha256", "fingerprint_md5", "nsml_name"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in RegisteredKey._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Keys are added through NSML by the register service, never typed into the database.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "actor_username",
        "action",
        "outcome",
        "title",
        "fingerprint",
        "reason",
        "upstream_status",
        "client_ip",
    ]
    list_filter = ["action", "outcome", "created_at"]
    search_fields = ["actor_username", "title", "fingerprint", "trace_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
