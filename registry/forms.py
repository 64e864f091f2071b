"""Forms of the registry's pages."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from registry.models import ModelVersion

UNKNOWN_VERSION = _("There is no version “%(value)s” of this system. Choose one from the list.")


class VersionCompareForm(forms.Form):
    """Pick two of a system's versions (by version string) to compare side by side."""

    a = forms.ChoiceField(label=_("Version A"), error_messages={"invalid_choice": UNKNOWN_VERSION})
    b = forms.ChoiceField(label=_("Version B"), error_messages={"invalid_choice": UNKNOWN_VERSION})

    def __init__(self, *args, versions: Sequence[ModelVersion], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.versions = {version.version: version for version in versions}
        choices = [(version.version, version.version) for version in versions]
        self.fields["a"].choices = choices
        self.fields["b"].choices = choices

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("a") and cleaned.get("a") == cleaned.get("b"):
            raise forms.ValidationError(_("Choose two different versions."), code="same")
        return cleaned

    def version(self, field: str) -> ModelVersion:
        """The ModelVersion chosen in field "a" or "b" (after is_valid())."""
        return self.versions[self.cleaned_data[field]]


class TokenForm(forms.Form):
    """Name a new API token after what will use it."""

    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        help_text=_("What will use it, e.g. the nightly evaluation pipeline."),
    )
