"""Writes of the registry, one module per concern, re-exported here.

`systems`: systems, versions, metric specs, metric batches, tokens.
`sources`: data sources, their deliveries, profiles, integration runs, references, checks.
`retention`: pruning raw metric points past the retention (the rollups stay).
"""

from registry.services.retention import metric_points_prune
from registry.services.sources import (
    data_source_create,
    data_source_evaluate,
    data_source_update,
    data_sources_evaluate,
    data_sources_sweep,
    delivery_record,
    integration_run_record,
    profile_batch_record,
    reference_profile_from_window,
    reference_profile_push,
)
from registry.services.systems import (
    TOKEN_PREFIX,
    ai_system_create,
    ai_system_stage_set,
    ai_system_update,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    metric_batch_ingest,
    metric_spec_create,
    metric_spec_update,
    model_version_deploy,
    model_version_register,
    model_version_update,
)

__all__ = [
    "TOKEN_PREFIX",
    "ai_system_create",
    "ai_system_stage_set",
    "ai_system_update",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "data_source_create",
    "data_source_evaluate",
    "data_source_update",
    "data_sources_evaluate",
    "data_sources_sweep",
    "delivery_record",
    "integration_run_record",
    "metric_batch_ingest",
    "metric_points_prune",
    "metric_spec_create",
    "metric_spec_update",
    "model_version_deploy",
    "model_version_register",
    "model_version_update",
    "profile_batch_record",
    "reference_profile_from_window",
    "reference_profile_push",
]
