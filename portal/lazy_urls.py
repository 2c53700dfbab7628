"""A URL prefix whose URLconf is imported when it is first needed, not when a worker starts.

The JSON API (django-ninja and pydantic: about 14 MiB in every process that imports them) serves
scripts, not the pages. Behind `lazy_include`, a worker imports it at the first request under its
prefix or the first `reverse()` of one of its names; until then it costs nothing.
"""

from __future__ import annotations

from django.urls.resolvers import RoutePattern, URLResolver


class LazyURLResolver(URLResolver):
    """A namespaced URLResolver that reverse() alone does not import.

    Django's root resolver populates every child at the first reverse() of any name. For a namespaced
    child it keeps only the namespace, which needs nothing from the child's URLconf, so the child waits
    until something imports it: resolving a path under its prefix, or reversing one of its names (both
    read `url_patterns`, which imports it).
    """

    def _populate(self) -> None:
        if "urlconf_module" in self.__dict__:  # Django's cached_property: set once imported
            super()._populate()


def lazy_include(route: str, urlconf: str, *, app_name: str, namespace: str) -> LazyURLResolver:
    return LazyURLResolver(RoutePattern(route), urlconf, app_name=app_name, namespace=namespace)
