"""Forms of the registry's pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from core.roles import Role
from registry.choices import CheckStatus, DataSourceKind
from registry.models import LEVEL_DEFAULTS, AISystem, DataSource, ModelVersion

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


# --- Data sources -------------------------------------------------------------------------

STATUS_FILTERS = [
    ("", _("Any status")),
    (CheckStatus.FAIL, _("At least one check failing")),
    (CheckStatus.WARN, _("At least one warning")),
    (CheckStatus.INSUFFICIENT_DATA, _("At least one with insufficient data")),
    (CheckStatus.OK, _("Every check OK")),
]
# The fields the services take besides slug and systems.
SOURCE_FORM_FIELDS = (
    "name",
    "kind",
    "description",
    "owner",
    "expected_interval_seconds",
    "expected_schema",
    *LEVEL_DEFAULTS,
)
# The largest value of a PositiveIntegerField on every database: past it the row could not be saved.
DB_INT_MAX = 2_147_483_647
# The one address of the pages that a slug would shadow (/data-quality/new/).
RESERVED_SLUGS = frozenset({"new"})


def _label(name: str) -> str:
    """A DataSource field's verbose name, so the form and the model say the same."""
    return capfirst(DataSource._meta.get_field(name).verbose_name)


def _system_choices() -> list[tuple[str, str]]:
    return [("", _("Any system")), *AISystem.objects.order_by("name").values_list("slug", "name")]


class SourceFilterForm(forms.Form):
    """The dashboard's filters (GET): kind, a check status, a system fed, a search."""

    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Any kind")), *DataSourceKind.choices]
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_FILTERS)
    system = forms.ChoiceField(label=_("Feeds"), required=False)
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Part of a source's name or slug."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Read once per form: validating and drawing the field then share one query.
        self.fields["system"].choices = _system_choices()

    def filters(self) -> dict[str, str]:
        """The keyword arguments of selectors.data_sources_filtered (after is_valid())."""
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "status": data["status"],
            "system": data["system"],
            "query": data["q"].strip(),
        }


def _source_owners():
    """People who may own a source: active, with a role in the portal."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=Role.values)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else obj.get_username()


def _level_field(name: str, *, integer: bool = False, maximum: float | None = None):
    default = LEVEL_DEFAULTS[name]
    help_text = format_lazy(_("Default: {default}."), default=default)
    if integer:
        return forms.IntegerField(
            label=_label(name),
            min_value=1,
            max_value=DB_INT_MAX,
            initial=default,
            help_text=help_text,
        )
    return forms.FloatField(
        label=_label(name),
        min_value=0.0,
        max_value=maximum,
        initial=default,
        help_text=help_text,
    )


class DataSourceForm(forms.Form):
    """Register a data source or change one (then without its slug, which never changes).

    The rules (levels in order, the schema's shape, a unique slug) are the
    services'; this form only turns the page's text into values.
    """

    name = forms.CharField(label=_label("name"), max_length=200)
    slug = forms.SlugField(
        label=_label("slug"),
        max_length=80,
        help_text=_("Letters, digits, hyphens; used in the API's URLs and never changed."),
    )
    kind = forms.ChoiceField(label=_label("kind"), choices=DataSourceKind.choices)
    description = forms.CharField(
        label=_label("description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    owner = OwnerChoiceField(
        label=_label("owner"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("Nobody yet"),
        help_text=_("The person who answers for this source; they may edit it too."),
    )
    expected_interval_seconds = forms.IntegerField(
        label=_label("expected_interval_seconds"),
        min_value=60,
        max_value=DB_INT_MAX,
        initial=3600,
        help_text=DataSource._meta.get_field("expected_interval_seconds").help_text,
    )
    expected_schema = forms.JSONField(
        label=_label("expected_schema"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            'A JSON object of field names and type names, e.g. {"amount": "float", '
            '"branch": "string"}. Leave empty to skip the schema check.'
        ),
    )
    systems = forms.ModelMultipleChoiceField(
        label=_("AI systems it feeds"),
        queryset=AISystem.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=_("A failing check marks each of these systems' pages."),
    )
    completeness_warn = _level_field("completeness_warn", maximum=1.0)
    completeness_fail = _level_field("completeness_fail", maximum=1.0)
    psi_warn = _level_field("psi_warn")
    psi_fail = _level_field("psi_fail")
    wasserstein_warn = _level_field("wasserstein_warn")
    drift_min_rows = _level_field("drift_min_rows", integer=True)

    def __init__(self, *args, source: DataSource | None = None, **kwargs) -> None:
        if source is not None:
            kwargs.setdefault("initial", self.initial_of(source))
        super().__init__(*args, **kwargs)
        self.source = source
        self.fields["owner"].queryset = _source_owners()
        self.fields["systems"].queryset = AISystem.objects.order_by("name")
        if source is not None:
            del self.fields["slug"]

    @staticmethod
    def initial_of(source: DataSource) -> dict[str, Any]:
        initial = {name: getattr(source, name) for name in SOURCE_FORM_FIELDS}
        initial["owner"] = source.owner_id
        initial["systems"] = [system.pk for system in source.systems.all()]
        return initial

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(
                _("“%(slug)s” is reserved for this page's address; choose another slug."),
                params={"slug": slug},
                code="reserved",
            )
        return slug

    def clean_expected_schema(self) -> dict[str, str]:
        schema = self.cleaned_data["expected_schema"]
        if schema in (None, ""):
            return {}
        if not isinstance(schema, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in schema.items()
        ):
            raise forms.ValidationError(
                _('Write a JSON object of field names to type names, e.g. {"amount": "float"}.'),
                code="shape",
            )
        return schema

    def values(self) -> dict[str, Any]:
        """Everything the services take, keyed as they take it (after is_valid())."""
        return {name: self.cleaned_data[name] for name in SOURCE_FORM_FIELDS}

    def changes(self) -> dict[str, Any]:
        """Only what the person changed, so the audit records just that (after is_valid())."""
        return {
            name: self.cleaned_data[name]
            for name in SOURCE_FORM_FIELDS
            if name in self.changed_data
        }


class ReferenceWindowForm(forms.Form):
    """A window of deliveries whose field distributions become the new references."""

    start = forms.DateTimeField(
        label=_("From"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("The first delivery time included."),
    )
    end = forms.DateTimeField(
        label=_("Until"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Deliveries before this time are included, this one not."),
    )
    names = forms.CharField(
        label=_("Fields"),
        required=False,
        max_length=2000,
        help_text=_("Field names separated by commas; leave empty for every profiled field."),
    )

    def clean_names(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["names"].split(",")]
        return sorted({name for name in names if name})

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start >= end:
            self.add_error("end", _("The window must end after it starts."))
        return cleaned
