"""Forms of the governance pages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.roles import Role
from governance import assessment
from governance.choices import ChangeKind, ChangeState, RootCause
from registry.choices import RiskTier


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


# --- Change requests ----------------------------------------------------------------------


class ChangeFilterForm(forms.Form):
    """Narrow the change requests by state and, on the portfolio list, by system."""

    state = forms.ChoiceField(label=_("State"), required=False)
    system = forms.ChoiceField(label=_("System"), required=False)

    def __init__(self, *args, systems: Sequence[tuple[str, str]] | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", _("All states")), *ChangeState.choices]
        if systems is None:
            del self.fields["system"]
        else:
            self.fields["system"].choices = [("", _("All systems")), *systems]


class ChangeRequestForm(forms.Form):
    """Open a change request: a version (for model changes) or a parameter set, and why."""

    kind = forms.ChoiceField(label=_("Kind of change"), choices=ChangeKind.choices)
    model_version = forms.ChoiceField(
        label=_("Model version"),
        required=False,
        help_text=_("For a model update, retraining or rollback."),
    )
    parameters = forms.CharField(
        label=_("Parameter set (JSON object)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            'For a parameter or data-source change, e.g. {"review_threshold": 0.72}. '
            "Approvals are bound to the hash of exactly this set."
        ),
    )
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}))
    rationale = forms.CharField(
        label=_("Rationale"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Why this change, and the evidence for it."),
    )
    risk_tier = forms.ChoiceField(label=_("Risk classification"), choices=RiskTier.choices)
    risk_reason = forms.CharField(
        label=_("Why the risk differs from the system's tier"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Only an approver may classify a change below the system's tier, with a reason."
        ),
    )
    planned_for = forms.DateField(
        label=_("Planned date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, versions: Sequence[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        none = ("", _("None (a parameter or data-source change)"))
        self.fields["model_version"].choices = [none] + [(v, v) for v in versions]

    def clean_parameters(self) -> dict:
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError(_("This is not valid JSON."), code="json") from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                _('Give a JSON object, e.g. {"review_threshold": 0.72}.'), code="not_object"
            )
        return value


class ApproveForm(forms.Form):
    """An approval, with an optional comment for the record."""

    comment = forms.CharField(
        label=_("Comment (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ReasonForm(forms.Form):
    """A decision that must say why (rejection, rollback)."""

    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class OptionalReasonForm(forms.Form):
    """A withdrawal, with an optional reason."""

    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ConfirmForm(forms.Form):
    """A transition that takes no input; the confirmation page is the confirmation."""


# --- Root-cause assessment ----------------------------------------------------------------


class AssessmentForm(forms.Form):
    """The questionnaire: an optional answer on SCALE per question; a blank one stays as it was."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for question in assessment.QUESTIONS:
            self.fields[question.key] = forms.TypedChoiceField(
                label=question.text,
                choices=assessment.SCALE,
                coerce=int,
                empty_value=None,
                required=False,
                widget=forms.RadioSelect,
            )

    def answers(self) -> dict[str, int]:
        """The answers given, {question key: 0 to 4}, for assessment_answers_save."""
        return {key: value for key, value in self.cleaned_data.items() if value is not None}

    def by_cause(self) -> list[tuple[str, str, list]]:
        """(cause, its label, its bound fields) in DOMAIN.md's order, for a fieldset per cause."""
        return [
            (
                cause,
                RootCause(cause).label,
                [self[q.key] for q in assessment.QUESTIONS if q.cause == cause],
            )
            for cause in assessment.CAUSES
        ]


def _people_with_a_role(*, also: int | None = None):
    """Active people holding any role, and the person `also` (by id) whoever they are."""
    with_role = Q(is_active=True, groups__name__in=[role.value for role in Role])
    wanted = with_role | Q(pk=also) if also is not None else with_role
    return get_user_model().objects.filter(wanted).distinct().order_by("username")


class ActionItemForm(forms.Form):
    """Change an open action: what, who, by when, how urgent."""

    title = forms.CharField(label=_("Title"), max_length=200)
    owner = PersonChoiceField(
        label=_("Owner"),
        queryset=_people_with_a_role(),
        required=False,
        empty_label=_("Nobody yet"),
    )
    due_date = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))
    priority = forms.IntegerField(
        label=_("Priority"),
        min_value=1,
        max_value=999,
        help_text=_("1 is the most urgent."),
    )

    def __init__(self, *args, current_owner_id: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if current_owner_id is not None:
            # An owner who has since lost their role stays selected rather than being
            # cleared silently by an edit of another field.
            self.fields["owner"].queryset = _people_with_a_role(also=current_owner_id)


class ActionDoneForm(forms.Form):
    """Mark an action done, with an optional note of what was done."""

    note = forms.CharField(
        label=_("What was done (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ActionDropForm(forms.Form):
    """Drop an action: the note saying why is required."""

    note = forms.CharField(
        label=_("Why is it dropped?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
