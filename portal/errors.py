"""What an error report may show. Django's filter already hides settings named like KEY, SECRET,
TOKEN or PASS (NCP_ACCESS_KEY, NCP_SECRET_KEY, NSML_API_KEY, SECRET_KEY); this one also hides
passwords inside URL settings (a CACHE_URL with one) and, on every view, the POST fields that
carry key material or passwords, whether or not the view was decorated. It applies with debug on
too, so the development debug page hides the same (the NSML client's frames: keys/upstream.py).
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter

# user:password@ in a URL; the password goes, the rest stays readable.
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^/@:\s]*):[^/@\s]*@", re.IGNORECASE)
# The title and the user name too: a private key is sometimes pasted into the first field of a form.
ALWAYS_SENSITIVE_POST = frozenset(
    {"key", "public_key", "new_key", "title", "new_title", "username", "password", "old_password"}
    | {"new_password1", "new_password2"}
)


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        # Django filters only with debug off; `make run`'s debug page must not show credentials either.
        return True

    def cleanse_setting(self, key, value):
        value = super().cleanse_setting(key, value)
        # type(), not isinstance(): lazy objects pass for str but the regex cannot read them.
        if type(value) is str:
            return URL_PASSWORD.sub(rf"\g<scheme>:{self.cleansed_substitute}@", value)
        return value

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None or not any(name in parameters for name in ALWAYS_SENSITIVE_POST):
            return parameters
        parameters = parameters.copy()
        for name in ALWAYS_SENSITIVE_POST & set(parameters):
            parameters[name] = self.cleansed_substitute
        return parameters
