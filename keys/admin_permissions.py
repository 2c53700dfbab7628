"""Permission names in the reader's language, in the user and group admin.

Django stores each permission's name once, in English ("Can add registered key"), when migrations run. The
default permissions are named here from what does not change with the language, the action in the codename
and the model, whose verbose_name is translated; a permission a model declares in its Meta gets the
translation of its stored name. The database keeps Django's English names.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Permission
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

DEFAULT_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_name(permission: Permission) -> str:
    """The permission's name in the active language: "Can add registered key", "등록된 키 추가"."""
    model = permission.content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if (
        model is not None
        and action in DEFAULT_ACTIONS
        and action in model._meta.default_permissions
        and model_name == model._meta.model_name
    ):
        return DEFAULT_ACTIONS[action] % {"model": model._meta.verbose_name}
    # A stale content type (its model gone) or a model's own permission: the stored name, translated if it can be.
    return gettext(permission.name)


def permission_label(permission: Permission) -> str:
    """As Django labels a permission, "app | model | name", with the name in the active language."""
    return f"{permission.content_type} | {permission_name(permission)}"


class PermissionNamesMixin:
    """A ModelAdmin mixin for the admin of a model with a many-to-many to Permission (`permissions_field`):
    its choices, and its read-only display, name permissions in the reader's language. Only a superuser
    edits the field. Django's read-only display of the field (str() of each permission) is replaced by
    `<permissions_field>_shown`, which the admin class defines with `shown_permissions`."""

    permissions_field = ""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == self.permissions_field and formfield is not None:
            formfield.label_from_instance = permission_label
        return formfield

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        # Permissions are a superuser's to give: staff who may change users or groups would otherwise give
        # themselves, or their own group, every permission.
        return [*fields, self.permissions_field, f"{self.permissions_field}_shown"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self._permissions_editable(request, obj):
            return fieldsets
        shown = f"{self.permissions_field}_shown"
        replaced = []
        for name, options in fieldsets:
            names = [shown if field == self.permissions_field else field for field in options["fields"]]
            names = list(dict.fromkeys(names))  # Django's get_fields lists both when the field is read-only
            replaced.append((name, {**options, "fields": names}))
        return replaced

    def _permissions_editable(self, request, obj) -> bool:
        return request.user.is_superuser and (obj is None or self.has_change_permission(request, obj))


def shown_permissions(model, name: str):
    """The read-only display of `model`'s many-to-many `name` to Permission: one permission a line."""
    field = model._meta.get_field(name)

    @admin.display(description=field.verbose_name)
    def shown(modeladmin, obj) -> str:
        if obj.pk is None:
            return modeladmin.get_empty_value_display()
        permissions = getattr(obj, name).select_related("content_type")
        return format_html_join(mark_safe("<br>"), "{}", ((permission_label(perm),) for perm in permissions)) or (
            modeladmin.get_empty_value_display()
        )

    return shown
