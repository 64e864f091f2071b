"""Signals the registry sends, for higher apps to react to without being imported here.

`audit_event`: a state change happened (sender = the model class), with
`actor` (a user, a token, or None for the system), `action`, `obj`,
`before` and `after` (dicts) and `reason`. Sent inside the service's
transaction, so a receiver that writes joins it.

`metrics_ingested`: a batch was committed, with `system_id`, `version_id`
and `metric_ids`; sent after the commit.
"""

from django.dispatch import Signal

audit_event = Signal()
metrics_ingested = Signal()
