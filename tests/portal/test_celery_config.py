"""The Celery app's contract: JSON only, late acks, one queue per kind of work."""

import pytest
from django_celery_beat.models import PeriodicTask

from portal.celery import QUEUES, app
from portal.tasks import heartbeat


def test_it_speaks_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_gating_work_is_acknowledged_late_one_at_a_time():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_every_task_has_soft_and_hard_time_limits():
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_the_four_queues_are_declared_and_routed_by_app():
    assert {queue.name for queue in app.conf.task_queues} == {
        "ingest",
        "gates",
        "notify",
        "default",
    }
    assert set(QUEUES) == {"ingest", "gates", "notify", "default"}
    router = app.amqp.router
    assert router.route({}, "registry.tasks.anything")["queue"].name == "ingest"
    assert router.route({}, "rollout.tasks.anything")["queue"].name == "gates"
    assert router.route({}, "governance.tasks.notify_escalation")["queue"].name == "notify"
    assert router.route({}, "governance.tasks.evaluate_alerts")["queue"].name == "gates"
    assert router.route({}, "portal.tasks.heartbeat")["queue"].name == "default"


def test_beat_reads_its_schedule_from_the_database():
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.mark.django_db
def test_the_project_schedules_are_created_by_a_migration():
    task = PeriodicTask.objects.get(name="portal.tasks.heartbeat")
    assert task.enabled
    assert task.interval.every == 60
    assert task.interval.period == "seconds"


@pytest.mark.django_db
def test_every_scheduled_task_exists_and_the_data_quality_sweeps_are_scheduled():
    app.loader.import_default_modules()
    schedules = {
        task.name: task for task in PeriodicTask.objects.exclude(name="celery.backend_cleanup")
    }
    for name, task in schedules.items():
        assert task.task in app.tasks, name
    freshness = schedules["registry.tasks.sweep_source_freshness"]
    assert (freshness.interval.every, freshness.queue) == (60, "ingest")
    assert schedules["registry.tasks.evaluate_all_sources"].interval.every == 3600


@pytest.mark.django_db
def test_the_heartbeat_task_records_the_worker_once_per_worker():
    from portal.models import WorkerHeartbeat

    heartbeat.apply()
    heartbeat.apply()
    assert WorkerHeartbeat.objects.count() == 1
