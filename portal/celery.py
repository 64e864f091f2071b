"""The Celery app: JSON only, late acknowledgement, one queue per kind of work."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Four queues so that a flood of ingestion work never delays a gate or a
# notification; `make run` and docker compose run one worker consuming all four.
QUEUES = ("ingest", "gates", "notify", "default")
app.conf.task_queues = [Queue(name, routing_key=name) for name in QUEUES]
app.conf.task_default_queue = "default"
app.conf.task_default_routing_key = "default"
# First match wins: notifications of governance go to "notify", its evaluation
# work (alerts, escalation levels) to "gates" with the rollout gates.
app.conf.task_routes = [
    {
        "registry.tasks.*": {"queue": "ingest"},
        "rollout.tasks.*": {"queue": "gates"},
        "governance.tasks.notify_*": {"queue": "notify"},
        "governance.tasks.*": {"queue": "gates"},
    }
]
app.autodiscover_tasks()
