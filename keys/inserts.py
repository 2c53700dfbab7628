"""New rows on a submission's path written by one INSERT statement kept per model and database, not compiled anew.

`Model.save()` builds and compiles its INSERT on every call (about 0.1 ms of a worker's CPU for a key's row on the
bench's machines). Here the statement is written once from the model's columns, and each row's values are prepared
by its fields as `save()` prepares them (`pre_save`, then `get_db_prep_save`). For models without save() overrides
or signal receivers of their own, whose primary key the database assigns.
"""

from __future__ import annotations

import functools

from django.db import connections
from django.db.models import Field, Model


@functools.cache
def columns(model: type[Model], alias: str) -> tuple[str, str, tuple[Field, ...]]:
    """The columns a new row of `model` writes (all but the primary key the database assigns), quoted and joined;
    as many placeholders; and their fields, in that order."""
    meta = model._meta
    fields = tuple(field for field in meta.concrete_fields if field is not meta.auto_field)
    quote = connections[alias].ops.quote_name
    return ", ".join(quote(field.column) for field in fields), ", ".join(["%s"] * len(fields)), fields


def values(instance: Model, fields: tuple[Field, ...], alias: str) -> list:
    """`instance`'s values for `fields`, prepared for the database as save() prepares them."""
    connection = connections[alias]
    return [field.get_db_prep_save(field.pre_save(instance, True), connection=connection) for field in fields]


def insert(instance: Model, *, using: str = "default") -> None:
    """INSERT `instance` as a new row and give it the id the database assigned, as `save(force_insert=True)` does."""
    sql, fields = _statement(type(instance), using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, values(instance, fields, using))
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = using


@functools.cache
def _statement(model: type[Model], alias: str) -> tuple[str, tuple[Field, ...]]:
    meta, quote = model._meta, connections[alias].ops.quote_name
    names, placeholders, fields = columns(model, alias)
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({placeholders}) RETURNING {quote(meta.pk.column)}"
    return sql, fields
