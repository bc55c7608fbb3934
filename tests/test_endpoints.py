"""One spec per endpoint (lib.core.endpoints) and one client interface (lib.vendors.vendor.VendorClient)."""
import ast
import dataclasses
import importlib
import io
import json
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest

from lib.core import endpoints, forms, history, progress
from lib.core.endpoints import SPECS, spec
from lib.core.errors import NotSupported
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.core.validation import validate
from lib.media.archive import Archiver
from lib.service import poller, studio
from lib.service.transfer import VERSION, export_zip, import_zip
from lib.store.sqlite import MIGRATIONS, Store
from lib.ui import form
from lib.vendors import pricing
from lib.vendors.kling import KlingClient
from lib.vendors.vendor import VendorClient
from lib.vendors.vidu import ViduClient
from tests.fakes import ScriptedClient, vendors

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_endpoint_has_a_spec_keyed_by_itself(endpoint):
    found = SPECS[endpoint]
    assert found.endpoint is endpoint and found.provider is endpoint.provider
    assert endpoint.value.startswith(f"{found.provider.value}.") and endpoint.media_kind == found.media_kind
    assert found.path.startswith("/") and found.unit in ("credits", "units") and found.typical_seconds > 0


def test_the_specs_name_distinct_pages_widget_prefixes_and_paths():
    for attribute in ("page", "prefix", "path", "label"):
        values = [getattr(s, attribute) for s in SPECS.values()]
        assert len(set(values)) == len(values), attribute


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_spec_validator_accepts_its_examples_as_the_form_sends_them(endpoint):
    found = spec(endpoint)
    assert found.examples
    for example in found.examples:
        assert found.validator({**found.fixed, **example}) == []
        body = forms.to_body(endpoint, forms.to_values(endpoint, example))
        assert validate(endpoint, body) == [] and found.price(body) is not None


@pytest.mark.parametrize("endpoint", list(Endpoint))
def test_every_spec_page_module_has_a_page_function(endpoint):
    assert callable(importlib.import_module(spec(endpoint).module).page)


def test_prices_come_from_the_spec():
    assert endpoints.cost(Endpoint.VIDU_TEXT2AUDIO, {"duration": 5}) == "10 credits"
    assert endpoints.cost(Endpoint.VIDU_TEXT2AUDIO, {"duration": 8}) == "20 credits"
    assert endpoints.cost(Endpoint.VIDU_TEXT2VIDEO, {"model": "viduq2", "resolution": "720p", "duration": 5}) == \
        f"{pricing.vidu_video_credits('viduq2', '720p', 5)} credits"
    assert endpoints.cost(Endpoint.VIDU_TEXT2VIDEO, {"model": "no-such-model"}) is None
    assert endpoints.cost(Endpoint.KLING_TEXT2AUDIO, {"duration": 9}) == f"{pricing.KLING_UNITS_PER_TASK} units"
    assert form.estimate(Endpoint.KLING_TEXT2AUDIO, {}) == "Estimated cost: 0.25 units (Kling bills per task)"
    assert form.estimate(Endpoint.VIDU_TEXT2VIDEO, {"model": "?"}) == (
        "Estimated cost: choose a valid model, resolution and duration")


@pytest.fixture
def fake_spec(monkeypatch):
    """Text-to-audio's spec replaced by a made-up one: everything derived must follow it."""
    fake = dataclasses.replace(
        SPECS[Endpoint.VIDU_TEXT2AUDIO], label="Made-up sound", page="madeup", prefix="mu", unit="tokens",
        price=lambda body: 7, price_note="billed by the made-up vendor", typical_seconds=1000,
        fields={"prompt": "", "loudness": 3}, fixed={"model": "made-up-1"},
        validator=lambda body: [], examples=({"prompt": "a made-up example"},))
    monkeypatch.setitem(SPECS, Endpoint.VIDU_TEXT2AUDIO, fake)
    return fake


def test_forms_labels_prices_and_timings_come_from_the_registry(fake_spec):
    endpoint = Endpoint.VIDU_TEXT2AUDIO
    assert forms.key(endpoint, "prompt") == "mu_prompt"
    assert forms.defaults(endpoint) == {"prompt": "", "loudness": 3}
    assert forms.to_body(endpoint, {"prompt": "x", "loudness": 5}) == {"model": "made-up-1", "prompt": "x",
                                                                      "loudness": 5}
    task = Task(endpoint, {"prompt": "x"}, state=State.RUNNING, started_at=time.time() - 600)
    assert history.estimated_cost(task) == "7 tokens"
    assert form.estimate(endpoint, {}) == "Estimated cost: 7 tokens (billed by the made-up vendor)"
    assert "“Made-up sound” task" in history.not_found_message(task)
    # 1000 s typical, 600 s gone
    assert progress.words(history.seconds_left(task, time.time())) == "about 6 min 40 s left"
    assert poller.near_end(task, time.time())  # within three typical durations of 1000 s
    assert validate(endpoint, {"anything": object()}) == []


def test_both_clients_implement_the_one_interface():
    vidu, kling = ViduClient("vda_key", base_url="http://127.0.0.1:9"), KlingClient(api_key="k", base_url="http://x")
    assert isinstance(vidu, VendorClient) and isinstance(kling, VendorClient)
    assert vidu.supports_cancel and not kling.supports_cancel
    task = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "x", "duration": 3}, vendor_id="1")
    with pytest.raises(NotSupported, match="Kling cannot cancel"):
        kling.cancel_task(task)
    assert kling.find_created(task) is None


def test_traceable_bodies_name_the_studio_task():
    vidu, kling = ViduClient("vda_key"), KlingClient(api_key="k")
    assert vidu.traceable(Endpoint.VIDU_TEXT2VIDEO, {"prompt": "x"}, "abc")["payload"].endswith("abc")
    assert vidu.traceable(Endpoint.VIDU_TEXT2VIDEO, {"payload": "mine"}, "abc")["payload"] == "mine"
    assert "payload" not in vidu.traceable(Endpoint.VIDU_TEXT2AUDIO, {"prompt": "x"}, "abc")
    assert kling.traceable(Endpoint.KLING_TEXT2AUDIO, {"prompt": "x"}, "abc")["external_task_id"].startswith("cue-")


def test_vendors_hand_out_clients_by_provider_and_swap_in_own_ones():
    vidu, kling, own = ScriptedClient(), ScriptedClient(), ScriptedClient()
    base = vendors(vidu=vidu, kling=kling)
    assert base.client(Provider.VIDU) is vidu and base.client(Provider.KLING) is kling
    assert not base.live(Provider.VIDU) and not base.live(Provider.KLING)
    mixed = base.with_client(Provider.KLING, own)
    assert mixed.client(Provider.KLING) is own and mixed.live(Provider.KLING) and not mixed.live(Provider.VIDU)
    assert mixed.client(Provider.VIDU) is vidu


def test_cancel_goes_through_the_interface(tmp_path):
    store = Store(tmp_path / "studio.db")
    kling = ScriptedClient(queries=[{"vendor_id": "7", "state": State.QUEUED}])
    kling.cancel_task = KlingClient.cancel_task.__get__(kling)  # the real Kling answer to a cancel
    task = Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "x", "duration": 3}, owner="ann", vendor_id="7")
    with pytest.raises(NotSupported):
        studio.cancel(vendors(kling=kling), task, lambda task, fresh: store.save(fresh))
    assert kling.queried == []


# Modules that may tell the vendors apart: the vendors' own, the simulator and the registry; lib/service/app.py builds
# each vendor's client from its own kind of credentials, lib/ui/keys.py asks for them, and lib/service/callbacks.py
# checks each vendor's own signature scheme. None of them creates, queries or cancels a task.
ALLOWED = {"lib/vendors/vidu.py", "lib/vendors/kling.py", "lib/core/endpoints.py", "lib/service/app.py", "lib/ui/keys.py", "lib/service/callbacks.py"}
CALLS = {"create", "query", "cancel", "find_created", "create_task", "query_task", "cancel_task"}


def _sources():
    for path in sorted([*ROOT.glob("lib/**/*.py"), *ROOT.glob("pages/*.py"), ROOT / "streamlit_app.py"]):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("lib/sim/") and relative not in ALLOWED:
            yield relative, ast.parse(path.read_text())


def _is_vendor_constant(node) -> bool:
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Provider"
            and node.attr in ("VIDU", "KLING"))


def test_nothing_outside_the_vendor_modules_branches_on_the_vendor():
    found = []
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(map(_is_vendor_constant, [node.left, *node.comparators])):
                found.append(f"{relative}:{node.lineno} compares with a Provider")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in ("vidu", "kling")):
                found.append(f"{relative}:{node.lineno} calls one vendor's client by name")
    assert found == []


def test_the_source_check_catches_a_vendor_branch():
    tree = ast.parse("if task.provider is Provider.KLING:\n    vendors.kling.query(task)\n")
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert any(_is_vendor_constant(c) for n in compares for c in n.comparators)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls[0].func.attr in CALLS and calls[0].func.value.attr == "kling"


# ---- `task_id` means one thing: the vendor's id is `vendor_id` ----

def test_an_older_database_keeps_its_vendor_ids_under_the_new_name(tmp_path):
    path = tmp_path / "studio.db"
    with sqlite3.connect(path) as db:  # a database as version 4 of the schema left it
        for number, script in enumerate(MIGRATIONS[:4], start=1):
            db.executescript(f"{script}; PRAGMA user_version = {number};")
        db.execute("INSERT INTO tasks (id, owner, endpoint, params, task_id, state, created_at, updated_at)"
                   " VALUES ('s1', 'ann', 'vidu.text2audio', '{}', '812', 'queued', 1, 1)")
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.get("s1").vendor_id == "812"
    assert store.find_by_vendor_id(Provider.VIDU, "812").id == "s1"
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        indexes = {row[1] for row in db.execute("PRAGMA index_list(tasks)")}
    assert "vendor_id" in columns and "task_id" not in columns
    assert "tasks_vendor_id" in indexes and "tasks_task_id" not in indexes


def _zip(document: dict) -> io.BytesIO:
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as writing:
        writing.writestr("history.json", json.dumps(document))
    bundle.seek(0)
    return bundle


def test_exports_write_vendor_id_and_version_1_exports_with_task_id_still_import(tmp_path):
    store, archive = Store(tmp_path / "a.db"), Archiver(tmp_path / "media")
    store.add(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "waves", "duration": 5.0}, owner="ann", vendor_id="9",
                   state=State.FAILED, error_code="x", error_message="y", created_at=1.0, updated_at=2.0))
    target = io.BytesIO()
    export_zip(store, archive, "ann", target)
    with zipfile.ZipFile(target) as opened:
        document = json.loads(opened.read("history.json"))
    assert document["version"] == VERSION == 2
    assert document["tasks"][0]["vendor_id"] == "9" and "task_id" not in document["tasks"][0]

    old = {**document, "version": 1, "tasks": [{("task_id" if k == "vendor_id" else k): v
                                                for k, v in document["tasks"][0].items()}]}
    for number, data in enumerate((old, document)):
        other = Store(tmp_path / f"b{number}.db")
        report = import_zip(other, Archiver(tmp_path / f"m{number}"), "bob", _zip(data))
        assert (report.added, report.skipped) == (1, [])
        assert other.find("bob")[0].vendor_id == "9"
