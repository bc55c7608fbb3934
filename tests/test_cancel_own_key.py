"""A task sent with a person's own key is cancelled with that key, never with the studio's."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.errors import ConfigError
from lib.core.tasks import Endpoint, Provider, State
from lib.service import studio
from lib.service.keyring import Keyring
from lib.sim import DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from lib.vendors.vidu import ViduClient

OWN_KEY = "vda_own_key_of_ann_9182"
BODY = {"model": "audio1.0", "prompt": "rain on a tin roof", "duration": 5}


@pytest.fixture(scope="module")
def own_sim():
    """A simulator that knows only the person's own key (the studio's is refused), whose tasks wait queued."""
    simulator = start(speed=50, vidu_keys=(OWN_KEY,), queue_seconds=600)
    yield simulator
    simulator.stop()


def cancels(sim) -> list:
    return [request for request in sim.requests if request.method == "POST" and "cancel" in request.path]


def keyring_for(sim) -> Keyring:
    return Keyring(lambda provider, credentials: ViduClient(credentials["api_key"], base_url=sim.url))


def studio_vendors(sim) -> studio.Vendors:
    studio_vidu = ViduClient(DEMO_VIDU_KEY, base_url=sim.url)
    return studio.Vendors(studio_vidu, studio_vidu, vidu_live=False, kling_live=False)


def own_task(store, sim, keyring: Keyring, owner: str):
    task, _ = studio.submit(store, keyring.vendors_for(owner, studio_vendors(sim)), Endpoint.VIDU_TEXT2AUDIO, BODY,
                            owner, own_key=True)
    assert task.own_key and task.vendor_id and task.state is State.QUEUED
    return task


def test_an_own_key_task_is_cancelled_with_its_own_key(own_sim, tmp_path):
    store, keyring = Store(tmp_path / "s.db"), keyring_for(own_sim)
    keyring.set("ann", Provider.VIDU, api_key=OWN_KEY)
    task = own_task(store, own_sim, keyring, "ann")
    before = len(cancels(own_sim))
    cancelled = studio.cancel(keyring.vendors_for_task(task, studio_vendors(own_sim)), task,
                              lambda task, fresh: (store.save(fresh), fresh)[1])
    sent = cancels(own_sim)[before:]
    assert [request.auth_valid for request in sent] == [True]  # the simulator accepts only the own key
    assert cancelled.state is State.CANCELLED and store.get(task.id).state is State.CANCELLED


def test_without_its_key_an_own_key_task_is_not_cancelled_with_the_studios(own_sim, tmp_path):
    store, keyring = Store(tmp_path / "s.db"), keyring_for(own_sim)
    keyring.set("ann", Provider.VIDU, api_key=OWN_KEY)
    task = own_task(store, own_sim, keyring, "ann")
    keyring.forget("ann", Provider.VIDU)  # e.g. the studio restarted since
    before = len(own_sim.requests)
    with pytest.raises(ConfigError, match="Waiting for your own Vidu key"):
        keyring.vendors_for_task(task, studio_vendors(own_sim))
    assert own_sim.requests[before:] == []


def cancel_card(task_id: str) -> None:
    import time as clock

    from lib.ui import tasks
    from lib.ui.runtime import services

    tasks.card(services().store.get(task_id), clock.time())


@pytest.fixture
def own_key_studio(demo, own_sim, monkeypatch):
    """The demo studio on the shared simulator, where a pasted Vidu key goes to the same simulator."""
    monkeypatch.setenv("STUDIO_SIM_URL", own_sim.url)
    monkeypatch.setenv("VIDU_BASE_URL", own_sim.url)
    from lib.ui.runtime import services

    return services()


def test_the_cancel_button_cancels_an_own_key_task_with_its_own_key(own_key_studio, own_sim):
    own_key_studio.keyring.set("local", Provider.VIDU, api_key=OWN_KEY)
    task = own_task(own_key_studio.store, own_sim, own_key_studio.keyring, "local")
    at = AppTest.from_function(cancel_card, args=(task.id,), default_timeout=30).run()
    before = len(cancels(own_sim))
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    assert not at.exception and not at.error
    assert [request.auth_valid for request in cancels(own_sim)[before:]] == [True]
    assert own_key_studio.store.get(task.id).state is State.CANCELLED


def test_the_cancel_button_says_the_key_is_missing_and_sends_nothing(own_key_studio, own_sim):
    own_key_studio.keyring.set("local", Provider.VIDU, api_key=OWN_KEY)
    task = own_task(own_key_studio.store, own_sim, own_key_studio.keyring, "local")
    at = AppTest.from_function(cancel_card, args=(task.id,), default_timeout=30).run()
    own_key_studio.keyring.forget("local", Provider.VIDU)
    before = len(cancels(own_sim))
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    assert [e.value for e in at.error] and "enter it again in Settings" in at.error[0].value
    assert cancels(own_sim)[before:] == [] and own_key_studio.store.get(task.id).state is State.QUEUED
