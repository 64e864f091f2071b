"""Forms of the governance pages."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _


class AuditFilterForm(forms.Form):
    """Narrow the audit trail by system, actor, action and a range of days."""

    system = forms.ChoiceField(label=_("System"), required=False)
    actor = forms.CharField(
        label=_("Actor"),
        required=False,
        max_length=200,
        help_text=_("Part of a user name or pipeline name."),
    )
    action = forms.ChoiceField(label=_("Action"), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Included."),
    )

    def __init__(
        self, *args, systems: Sequence[tuple[str, str]], actions: Sequence[str], **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [("", _("All systems")), *systems]
        self.fields["action"].choices = [("", _("All actions"))] + [(a, a) for a in actions]

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError(
                _("The end date is before the start date."), code="date_order"
            )
        return cleaned


def _active_people():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class PersonChoiceField(forms.ModelChoiceField):
    """An active person, shown by full name and username."""

    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


class OwnerForm(forms.Form):
    """Name the accountable owner and their budget authority."""

    owner = PersonChoiceField(label=_("Owner"), queryset=_active_people())
    budget_authority = forms.CharField(
        label=_("Budget authority"),
        max_length=200,
        help_text=_("What the owner may spend, e.g. “up to HKD 2m a year, cost centre 4410”."),
    )
    reason = forms.CharField(
        label=_("Reason (for the audit trail)"), max_length=300, required=False
    )


class StatementForm(forms.Form):
    """The accountability statement the owner signs."""

    statement = forms.CharField(label=_("Statement"), widget=forms.Textarea(attrs={"rows": 5}))


class SignForm(forms.Form):
    """The owner confirms they have read the exact statement before signing."""

    confirm = forms.BooleanField(
        label=_("I have read this statement and accept accountability for this system."),
        required=True,
    )


class MemberForm(forms.Form):
    """Add a person to the AI-operations function."""

    user = PersonChoiceField(label=_("Person"), queryset=_active_people())


class LeadForm(forms.Form):
    """Name a business-unit lead who must attest the change-management briefing."""

    user = PersonChoiceField(label=_("Person"), queryset=_active_people())
    business_unit = forms.CharField(label=_("Business unit"), max_length=120)
