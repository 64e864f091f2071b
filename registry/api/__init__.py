"""The registry's REST API, one module per concern (routes in registry/api_urls.py).

`systems`: systems, versions, metric specs, ingestion, series, tokens.
`sources`: data sources, their pushes (deliveries, profiles, integration runs), references.
"""

from registry.api.sources import (
    DataSourceViewSet,
    DeliveryView,
    IntegrationRunView,
    ProfileView,
    ReferenceView,
    SourceTokenViewSet,
)
from registry.api.systems import (
    MetricIngestView,
    MetricSpecViewSet,
    PersonalTokenViewSet,
    SeriesView,
    SystemScoped,
    SystemTokenViewSet,
    SystemViewSet,
    VersionViewSet,
)

__all__ = [
    "DataSourceViewSet",
    "DeliveryView",
    "IntegrationRunView",
    "MetricIngestView",
    "MetricSpecViewSet",
    "PersonalTokenViewSet",
    "ProfileView",
    "ReferenceView",
    "SeriesView",
    "SourceTokenViewSet",
    "SystemScoped",
    "SystemTokenViewSet",
    "SystemViewSet",
    "VersionViewSet",
]
