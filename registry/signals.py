"""Signals the registry sends, for higher apps to react to without being imported here.

`audit_event`: a state change happened (sender = the model class), with
`actor` (a user, a token, or None for the system), `action`, `obj`,
`before` and `after` (dicts) and `reason`. Sent inside the service's
transaction, so a receiver that writes joins it.

`metrics_ingested`: a batch was committed, with `system_id`, `version_id`
and `metric_ids`; sent after the commit.

`data_quality_failed`: checks of a data source turned "fail", with `source`,
`checks` (SourceCheck rows) and `now`; sent inside the evaluation's
transaction, once per transition, so that an escalation opened by a receiver
commits with the verdict or not at all.
"""

from django.dispatch import Signal

audit_event = Signal()
metrics_ingested = Signal()
data_quality_failed = Signal()
