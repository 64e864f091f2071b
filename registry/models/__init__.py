"""The registry's facts, re-exported so that `from registry.models import X` stays the one way in.

`systems`: AI systems, versions, metrics, tokens, pull connectors.
`sources`: upstream data sources, their deliveries, profiles and checks.
"""

from registry.models.sources import (
    LEVEL_DEFAULTS,
    DataSource,
    FieldProfile,
    IntegrationRun,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)
from registry.models.systems import (
    AISystem,
    ApiToken,
    MetricPoint,
    MetricRollup,
    MetricSource,
    MetricSpec,
    ModelVersion,
    PullRun,
    content_hash,
)

__all__ = [
    "LEVEL_DEFAULTS",
    "AISystem",
    "ApiToken",
    "DataSource",
    "FieldProfile",
    "IntegrationRun",
    "MetricPoint",
    "MetricRollup",
    "MetricSource",
    "MetricSpec",
    "ModelVersion",
    "PullRun",
    "ReferenceProfile",
    "SourceCheck",
    "SourceDelivery",
    "content_hash",
]
