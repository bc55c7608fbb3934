"""Own keys: held in memory for their owner only, used for that owner's tasks, waited for after a restart."""
import pytest
from streamlit.testing.v1 import AppTest

from lib.core.errors import ConfigError
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.service.keyring import Keyring
from lib.service.poller import Poller
from lib.store.sqlite import Store
from lib.ui.runtime import services
from tests.fakes import ScriptedClient, vendors
from tests.apptest import APP
from tests.test_app import demo_studio  # noqa: F401  (the demo-mode fixture, used by name below)

OWN_KEY = "vda_OWNKEY_visible_nowhere_4711"


def make_client(provider, credentials):
    if not credentials.get("api_key"):
        raise ConfigError("Add a key.")
    return ScriptedClient(queries=[{"state": State.SUCCEEDED, "raw_state": "success"}])


def test_keys_are_per_owner_and_can_be_forgotten():
    keyring = Keyring(make_client)
    keyring.set("ann", Provider.VIDU, api_key="k")
    base = vendors()
    assert keyring.vendors_for("ann", base).vidu is not base.vidu and keyring.vendors_for("ann", base).vidu_live
    assert keyring.vendors_for("bob", base) == base
    keyring.forget("ann", Provider.VIDU)
    assert not keyring.has("ann", Provider.VIDU)
    with pytest.raises(ConfigError):
        keyring.set("ann", Provider.VIDU)


def test_a_task_sent_with_an_own_key_waits_for_it_and_then_follows_with_it(tmp_path):
    store, keyring = Store(tmp_path / "s.db"), Keyring(make_client)
    studio_vidu = ScriptedClient(queries=[{"state": State.RUNNING, "raw_state": "processing"}])
    task = Task(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "x"}, owner="ann", vendor_id="5", state=State.QUEUED,
                own_key=True)
    store.add(task)
    worker = Poller(store, vendors(vidu=studio_vidu), keyring=keyring)
    waiting = worker.poll(task)
    assert "Waiting for your own Vidu key" in store.get(task.id).error_message and waiting.state is State.QUEUED
    keyring.set("ann", Provider.VIDU, api_key="k")
    done = worker.poll(store.get(task.id))
    assert done.state is State.SUCCEEDED and done.error_message is None
    assert studio_vidu.queried == []  # never polled with the studio's own key


def own_keys_section():
    from lib.ui import keys

    keys.own_keys()


def test_pasted_key_is_used_and_never_shown_back(demo_studio):  # noqa: F811
    at = AppTest.from_function(own_keys_section, default_timeout=30).run()
    next(t for t in at.text_input if t.label == "Vidu API key").input(OWN_KEY)
    next(b for b in at.button if b.label == "Use my Vidu key").click()
    at.run()
    assert not at.exception and not at.error
    assert services().keyring.has("local", Provider.VIDU)
    assert [s.value for s in at.success] == ["Your own Vidu key is in use for your tasks."]
    assert OWN_KEY not in str(list(at.main)) + str({k: at.session_state[k] for k in at.session_state})
    next(b for b in at.button if b.label == "Stop using my Vidu key").click()
    at.run()
    assert not services().keyring.has("local", Provider.VIDU)


def test_an_incomplete_kling_pair_is_refused_plainly(demo_studio):  # noqa: F811
    at = AppTest.from_function(own_keys_section, default_timeout=30).run()
    next(t for t in at.text_input if t.label == "Kling access key").input("AK_only")
    next(b for b in at.button if b.label == "Use my Kling key").click()
    at.run()
    assert [e.value for e in at.error] and "KLING" in at.error[0].value
    assert not services().keyring.has("local", Provider.KLING)
