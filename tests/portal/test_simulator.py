"""The live simulator pushes through the real REST API of a live server, and can break a rollout."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from portal.demo import demo_load
from portal.simulator import Simulator, simulator_tokens, utcnow
from registry.models import ApiToken, MetricPoint, SourceDelivery
from rollout.models import Rollout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    demo_load()


def test_it_pushes_every_demo_systems_metrics_and_fresh_deliveries(demo, live_server):
    before = MetricPoint.objects.count(), SourceDelivery.objects.count()
    call_command("simulate", url=live_server.url, ticks=2, interval=0.01, breach_every=0)
    points, deliveries = MetricPoint.objects.count(), SourceDelivery.objects.count()
    # Four deployed versions plus the screener's candidate, four metrics each, two ticks.
    assert points - before[0] == 5 * 4 * 2
    # A delivery per healthy source on the first tick; the stopped stream stays stopped.
    assert deliveries - before[1] == 4
    assert ApiToken.objects.filter(name="simulator", revoked_at__isnull=True).count() == 4 + 4


def test_a_second_run_revokes_the_first_runs_tokens(demo, live_server):
    simulator_tokens()
    simulator_tokens()
    live = ApiToken.objects.filter(name="simulator", revoked_at__isnull=True).count()
    assert live == 8
    assert ApiToken.objects.filter(name="simulator", revoked_at__isnull=False).count() == 8


def test_a_breach_pauses_the_running_rollout(demo, live_server):
    systems, sources = simulator_tokens()
    lines = []
    simulator = Simulator(
        base_url=live_server.url,
        systems=systems,
        sources=sources,
        log=lines.append,
        breach_every=None,
    )
    rollout = Rollout.objects.get(state="running", is_rehearsal=False)
    simulator.breach(utcnow())
    rollout.refresh_from_db()
    assert rollout.state == "paused"
    assert rollout.pauses.get().automatic
    assert lines and lines[0].startswith("breach: ")


def test_it_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG on"):
        call_command("simulate", ticks=1)


def test_breach_now_pauses_the_rollout_beside_a_running_simulator(demo, live_server):
    simulator_tokens()  # the running simulator's tokens
    call_command("simulate", url=live_server.url, breach_now=True)
    assert Rollout.objects.get(is_rehearsal=False).state == "paused"
    # Its own tokens are gone; the running simulator's still work.
    assert not ApiToken.objects.filter(name="simulator-breach", revoked_at__isnull=True).exists()
    assert ApiToken.objects.filter(name="simulator", revoked_at__isnull=True).count() == 8
