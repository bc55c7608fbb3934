"""The demo queue: in demo mode a new task waits queued long enough to be cancelled; a cancel that comes too late
says why. Tests themselves keep the queue at 0 (see the `demo` fixture and tests/e2e/conftest.py)."""
from __future__ import annotations

import time

import pytest
import requests

from lib.core.endpoints import spec
from lib.core.errors import ConfigError, VendorError
from lib.core.tasks import Endpoint, State
from lib.service.app import build
from lib.service.config import load_settings
from lib.sim import DEMO_KLING_API_KEY, DEMO_VIDU_KEY, start
from lib.vendors.vidu import TOO_LATE_TO_CANCEL, ViduClient

RAIN = {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2}
DEMO_QUEUE_AT_LEAST = 3  # seconds: time enough to see the task waiting and press Cancel


def wait_for(check, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
    return result


@pytest.fixture(scope="module")
def queued_sim():
    """A fast simulator whose tasks wait a second in the queue, as demo mode's do for longer."""
    simulator = start(speed=50, queue_seconds=1.0)
    yield simulator
    simulator.stop()


def test_demo_mode_keeps_new_tasks_queued_for_seconds(tmp_path):
    settings = load_settings({"STUDIO_DATA_DIR": str(tmp_path)})  # what ./start.sh gets with no keys
    assert settings.sim_queue_seconds >= DEMO_QUEUE_AT_LEAST
    with build(settings) as studio:
        assert studio.simulator.options.queue_seconds == settings.sim_queue_seconds


def test_the_demo_queue_is_a_setting_and_bad_values_are_reported():
    assert load_settings({"STUDIO_SIM_QUEUE_SECONDS": "0"}).sim_queue_seconds == 0
    assert load_settings({"STUDIO_SIM_QUEUE_SECONDS": "7.5"}).sim_queue_seconds == 7.5
    for bad in ("-1", "soon", "601"):
        with pytest.raises(ConfigError, match="STUDIO_SIM_QUEUE_SECONDS must be a number of seconds from 0 to 600."):
            load_settings({"STUDIO_SIM_QUEUE_SECONDS": bad})


def test_a_queued_task_waits_its_queue_time_however_fast_the_simulator_runs(queued_sim):
    queued_sim.reset()
    vidu = ViduClient(DEMO_VIDU_KEY, base_url=queued_sim.url)
    task = vidu.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    assert wait_for(lambda: vidu.query(task.vendor_id).raw_state == "queueing")
    wait_for(lambda: vidu.query(task.vendor_id).state.terminal, seconds=30)
    held = queued_sim.engine.get("vidu", task.vendor_id)
    assert held.started - held.created >= 1.0  # the engine's own clock: it started only after its queue time


def test_while_queued_a_task_can_be_cancelled_and_is_refunded(queued_sim):
    queued_sim.reset()
    vidu = ViduClient(DEMO_VIDU_KEY, base_url=queued_sim.url)
    task = vidu.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    wait_for(lambda: vidu.query(task.vendor_id).raw_state == "queueing")
    vidu.cancel(task.vendor_id)
    cancelled = vidu.query(task.vendor_id)
    assert cancelled.state is State.CANCELLED and cancelled.credits == 0


def test_kling_tasks_wait_as_submitted_during_the_queue_time(queued_sim):
    queued_sim.reset()
    answer = requests.post(queued_sim.url + spec(Endpoint.KLING_TEXT2AUDIO).path, timeout=10,
                           json={"prompt": "Fireworks over the harbour", "duration": 3},
                           headers={"Authorization": f"Bearer {DEMO_KLING_API_KEY}"})
    task = queued_sim.engine.get("kling", answer.json()["data"]["task_id"])
    wait_for(lambda: task.phase.terminal, seconds=30)
    assert task.started - task.created >= 1.0


def test_a_cancel_after_the_task_finished_says_it_is_too_late(fresh_sim):
    vidu = ViduClient(DEMO_VIDU_KEY, base_url=fresh_sim.url)
    task = vidu.create(Endpoint.VIDU_TEXT2AUDIO, RAIN)
    wait_for(lambda: vidu.query(task.vendor_id).state is State.SUCCEEDED)
    with pytest.raises(VendorError) as raised:
        vidu.cancel(task.vendor_id)
    assert raised.value.message == TOO_LATE_TO_CANCEL["success"] == "Too late: Vidu has already finished it, and charged for it."
    assert str(raised.value).startswith(raised.value.message + " (reference ")  # Vidu's trace id stays for support
