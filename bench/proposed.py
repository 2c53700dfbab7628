"""The portal with the admin change bench/README.md proposes, for measuring it before it ships.

    gunicorn bench.proposed:application

The audit list gets `keys.pagination.EstimatedCountPaginator` and loses its date hierarchy (whose
drill-down reads every row of the filtered list to find the years). Nothing else differs from
portal.wsgi. Once keys/admin.py carries the change, `ADMIN_HAD_IT` is true and bench/run.py skips
this variant.
"""

from __future__ import annotations

from portal.wsgi import application  # noqa: F401 (sets Django up; gunicorn serves it)


def audit_admin():
    from django.contrib import admin

    from keys.models import AuditEvent

    return admin.site._registry[AuditEvent]


def already_applied() -> bool:
    from keys.pagination import EstimatedCountPaginator

    model_admin = audit_admin()
    return model_admin.paginator is EstimatedCountPaginator and not model_admin.date_hierarchy


def apply() -> None:
    from keys.pagination import EstimatedCountPaginator

    model_admin = audit_admin()
    model_admin.paginator = EstimatedCountPaginator
    model_admin.date_hierarchy = None


ADMIN_HAD_IT = already_applied()
apply()
