from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from keys.titles import MAX_TITLE_LENGTH


class KeyForm(forms.Form):
    """Presence only: the rules live in `services.register_key`, which also audits refusals."""

    title = forms.CharField(
        label=_("Title"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
    )
    key = forms.CharField(
        label=_("Public key"),
        strip=False,
        help_text=_("The contents of your .pub file, e.g. ~/.ssh/id_ed25519.pub."),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Formatted per request: `%` on a lazy string would fix the language at import time.
        self.fields["title"].help_text = gettext(
            "Up to %(max)d English letters, digits and hyphens; begins with a letter; no two hyphens in a row."
        ) % {"max": MAX_TITLE_LENGTH}

    def refuse(self, field: str, code: str, message: str) -> None:
        """Show a refusal next to its field; a pasted private key is never sent back to the browser."""
        if code == "private_key":
            self.data = self.data.copy()
            self.data["key"] = ""
        self.add_error(field, message)
