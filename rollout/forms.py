"""Forms of the rollout pages: readiness decisions, rollout plans and rollout actions.

They check the shape of the input only; the services have the last word on
every rule (who, which state, which indicators), so a form never decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from governance.choices import RootCause
from registry.models import ModelVersion
from rollout.choices import InterventionKind, RolloutState
from rollout.models import DEFAULT_COHORTS
from rollout.services import validate_cohorts


class ConfirmForm(forms.Form):
    """A decision that takes no input: the confirmation page is the confirmation."""


class ReasonForm(forms.Form):
    """A decision that must say why (step back, pause)."""

    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class WaiverForm(forms.Form):
    """A director names each unmet indicator and justifies going ahead on a conditional verdict."""

    unmet = forms.MultipleChoiceField(
        label=_("Unmet indicators this waiver names"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick each one: a waiver stands only while it names exactly what is unmet."),
    )
    justification = forms.CharField(
        label=_("Justification"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Why Stage 4 may start although these indicators are unmet, and until when."),
    )

    def __init__(self, *args, unmet: Sequence[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unmet"].choices = list(unmet)

    def clean_unmet(self) -> list[str]:
        ticked = self.cleaned_data["unmet"]
        expected = {key for key, _label in self.fields["unmet"].choices}
        if set(ticked) != expected:
            raise forms.ValidationError(
                _("Tick every unmet indicator: the waiver must name each one."), code="all_unmet"
            )
        return sorted(ticked)


class RollbackPlanForm(forms.Form):
    """The written rollback procedure (readiness indicator 6)."""

    text = forms.CharField(
        label=_("Rollback procedure"),
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Who does what, in which order, to send all traffic back to the deployed version."
        ),
    )


class InterventionForm(forms.Form):
    """A manual override or data correction, which restarts indicator 2's 14-day count."""

    kind = forms.ChoiceField(label=_("Kind of intervention"), choices=InterventionKind.choices)
    note = forms.CharField(
        label=_("What was done"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


# --- Rollouts --------------------------------------------------------------------------------


class RolloutFilterForm(forms.Form):
    """Narrow the rollouts by state."""

    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("All states")), *RolloutState.choices]
    )


class VersionChoiceField(forms.ModelChoiceField):
    """A model version, shown by its version string and status."""

    def label_from_instance(self, obj: ModelVersion) -> str:
        return f"{obj.version} ({obj.get_status_display()})"


class RolloutPlanForm(forms.Form):
    """Plan a staged rollout: the candidate, its cohorts and how long each is observed."""

    candidate = VersionChoiceField(
        label=_("Candidate version"), queryset=ModelVersion.objects.none()
    )
    cohorts = forms.CharField(
        # xgettext:no-python-format (a percent sign, not a placeholder)
        label=_("Cohorts (% of traffic)"),
        max_length=200,
        initial=", ".join(str(percent) for percent in DEFAULT_COHORTS),
        help_text=_("Whole percentages, increasing, ending at 100, e.g. “10, 25, 50, 100”."),
    )
    observation_hours = forms.DecimalField(
        label=_("Minimum observation per cohort (hours)"),
        min_value=Decimal("0.01"),
        max_value=Decimal("8760"),
        max_digits=7,
        decimal_places=2,
    )
    min_points = forms.IntegerField(
        label=_("Fewest points for a verdict"),
        min_value=1,
        max_value=1_000_000,
        initial=30,
        help_text=_(
            "Each checkpoint metric needs at least this many points from the candidate "
            "before a cohort can pass or fail."
        ),
    )
    is_rehearsal = forms.BooleanField(
        label=_("Rehearsal (routes no real traffic; rolling it back is a rollback drill)"),
        required=False,
    )

    def __init__(self, *args, versions, default_hours: Decimal, tier_label: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["candidate"].queryset = versions
        field = self.fields["observation_hours"]
        field.initial = default_hours
        field.help_text = _("The default for a %(tier)s-tier system is %(hours)s hours.") % {
            "tier": tier_label,
            "hours": f"{default_hours:g}",
        }

    def clean_cohorts(self) -> list[int]:
        parts = [part for part in re.split(r"[\s,;%]+", self.cleaned_data["cohorts"]) if part]
        if not parts or not all(part.isdigit() for part in parts):
            raise forms.ValidationError(
                _("Give whole percentages separated by commas, e.g. “10, 25, 50, 100”."),
                code="cohorts",
            )
        try:
            return validate_cohorts([int(part) for part in parts])
        except ApplicationError as exc:  # pure validation: the same rule the service applies
            raise forms.ValidationError(exc.message, code="cohorts") from None

    def observation_seconds(self) -> int:
        return max(1, round(self.cleaned_data["observation_hours"] * 3600))


class ApproveForm(forms.Form):
    """Approve the cohort the confirmation page showed (not whichever is current by then)."""

    step = forms.IntegerField(widget=forms.HiddenInput)


class ResumeForm(forms.Form):
    """Resume after a pause: the root cause (one of the five, or other) and what was done."""

    root_cause = forms.ChoiceField(
        label=_("Root cause"), choices=[("", _("Choose the root cause…")), *RootCause.choices]
    )
    note = forms.CharField(
        label=_("What was found and done"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RollBackForm(forms.Form):
    """Roll back: why, whether it is a drill, and whether it worked."""

    OUTCOMES = [("succeeded", _("Succeeded")), ("failed", _("Failed"))]

    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    drill = forms.BooleanField(
        label=_("This is a drill (it counts for readiness indicator 6 when it succeeds)"),
        required=False,
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=OUTCOMES,
        initial="succeeded",
        widget=forms.RadioSelect,
        help_text=_("Did traffic go back to the previous version as the rollback plan says?"),
    )
