"""Settings for a person who does not write code: the data folder only for whoever runs the studio on their own
machine, money beside the credits, the Kling units used this month, the technical details under "For developers"."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.core.plain import plain
from lib.core.tasks import Endpoint, State, Task
from lib.ui.runtime import services
from lib.ui.status import on_this_machine

APP = str(Path(__file__).resolve().parents[1] / "bench" / "app.py")
FOLDER = "Your studio keeps its history and media in "


def _settings() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.session_state["open_page"] = "settings"
    at.run()
    assert not at.exception, at.exception
    return at


def _captions(at: AppTest) -> list[str]:
    return [caption.value for caption in at.caption]


def test_the_data_folder_is_shown_as_an_absolute_path_on_ones_own_machine(demo, tmp_path):
    at = _settings()
    assert f"{FOLDER}{tmp_path.resolve()}".replace("-", "\\-").replace("_", "\\_") in _captions(at)


def test_a_hosted_studio_never_shows_its_data_folder(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_HOSTED", "1")
    services.clear()
    at = _settings()
    assert at.title[0].value == "Settings and status"
    assert not any(FOLDER in caption or tmp_path.name in caption for caption in _captions(at))


@pytest.mark.parametrize("address, local", [(None, True), ("127.0.0.1", True), ("::1", True), ("127.0.0.2", True),
                                            ("192.168.1.20", False), ("2001:db8::1", False), ("not an address", False)])
def test_only_a_loopback_connection_is_on_this_machine(address, local):
    assert on_this_machine(address) is local


def test_credits_show_their_money_and_the_details_sit_under_for_developers(demo):
    at = _settings()
    credits = next(metric for metric in at.metric if metric.label.startswith("Credits left"))
    assert credits.proto.help == f"≈ ${int(credits.value) * 0.005:,.2f} at $0.005 a credit"
    table = at.dataframe[0].value
    assert list(table.columns) == ["Vendor", "Working", "Key set"]
    assert set(table["Working"]) == {"simulated: a demo, nothing is charged"}
    developers = next(expander for expander in at.expander if expander.label == "For developers")
    assert list(developers.dataframe[0].value.columns) == ["Vendor", "Profile", "Base URL"]


def test_kling_units_used_this_month_as_kling_reported_them(demo, monkeypatch):
    store = services().store
    for units in (0.25, 0.5):
        store.add(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "door"}, state=State.SUCCEEDED, vendor_id=f"k{units}",
                       credits=units))
    store.add(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "refused"}, state=State.FAILED))  # never reached Kling
    used = next(metric for metric in _settings().metric if metric.label == "Your Kling units this month")
    assert used.value == "0.75" and used.proto.help.startswith("0.75 units, as Kling reported")
    monkeypatch.setenv("STUDIO_PRICE_KLING_UNIT", "0.2")
    services.clear()
    services().store.add(Task(Endpoint.KLING_TEXT2AUDIO, {"prompt": "door"}, state=State.SUCCEEDED, vendor_id="k1",
                              credits=1))
    used = next(metric for metric in _settings().metric if metric.label == "Your Kling units this month")
    assert used.proto.help.startswith("1.75 units (≈ $0.35), as Kling reported")


def test_kling_units_left_as_its_resource_packs_report_them(demo, monkeypatch):
    from lib.ui.status import _kling_packs
    from lib.vendors.kling import KlingClient

    _kling_packs.clear()  # read afresh, not from an earlier test's simulator
    at = _settings()
    left = next(metric for metric in at.metric if metric.label == f"Units left ({plain('Audio pack (simulated)')})")
    assert float(left.value) == float(services().simulator.engine.balance("kling"))
    assert "Kling updates this figure about 12 hours late" in left.proto.help
    monkeypatch.setattr(KlingClient, "resource_packs", lambda self: [
        {"resource_pack_name": "Audio 500", "total_quantity": 500, "remaining_quantity": "120.5"}])
    monkeypatch.setenv("STUDIO_PRICE_KLING_UNIT", "0.2")
    services.clear()
    _kling_packs.clear()
    left = next(metric for metric in _settings().metric if metric.label == "Units left (Audio 500)")
    assert left.value == "120.5" and left.proto.help.startswith("of 500 · ≈ $24.10 · ")
