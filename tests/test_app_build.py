"""The composition root: `lib.service.app.build(settings)` gives a whole, working studio engine without Streamlit."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lib.core.errors import ConfigError
from lib.core.tasks import Endpoint, State
from lib.service import studio
from lib.service.app import build
from lib.service.config import Settings, load_settings
from lib.service.poller import POLL_CONCURRENCY
from lib.sim import DEMO_VIDU_KEY
from tests.fakes import settled

ROOT = Path(__file__).resolve().parents[1]


def wait_for_end(store, vendor_id: str, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while not store.get(vendor_id).state.terminal:
        assert time.monotonic() < deadline, store.get(vendor_id)
        time.sleep(0.05)
    return settled(store, vendor_id)


@pytest.mark.parametrize("endpoint, body", [
    (Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2}),
    (Endpoint.KLING_TEXT2AUDIO, {"prompt": "Fireworks over the harbour", "duration": 3}),
])
def test_demo_mode_build_completes_a_task_against_the_embedded_simulator(tmp_path, endpoint, body):
    with build(Settings(data_dir=tmp_path, sim_speed=50, sim_queue_seconds=0)).start() as engine:
        assert engine.simulator is not None and engine.poller is engine.worker
        task, new = studio.submit(engine.store, engine.vendors, endpoint, body, "ann")
        assert new and task.vendor_id
        done = wait_for_end(engine.store, task.id)
        assert done.state is State.SUCCEEDED and done.error_message is None, done
        assert done.media and all(engine.archive.path(m.archived).stat().st_size > 1000 for m in done.media)
        assert (tmp_path / "studio.db").exists()
        simulator_url = engine.simulator.url
    with pytest.raises(requests.ConnectionError):  # closing the studio stopped its simulator
        requests.get(f"{simulator_url}/_sim/health", timeout=2)


def test_live_vendors_start_no_simulator_and_keys_stay_out_of_its_repr(tmp_path):
    settings = Settings(data_dir=tmp_path, vidu_api_key="vda_live_secret", kling_api_key="kling_live_secret")
    engine = build(settings)  # not started: nothing is polled, nothing is sent
    try:
        assert engine.simulator is None and engine.vendors.vidu_live and engine.vendors.kling_live
        assert engine.vidu_key == "vda_live_secret"
        assert "live_secret" not in repr(engine)
    finally:
        engine.close()


def test_demo_mode_signs_vidu_callbacks_with_the_demo_key(tmp_path):
    with build(Settings(data_dir=tmp_path)) as engine:
        assert engine.vidu_key == DEMO_VIDU_KEY


def test_the_engine_imports_no_streamlit():
    code = "import sys, lib.service.app; assert not [m for m in sys.modules if m.startswith('streamlit')], 'streamlit'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_only_the_composition_root_imports_the_simulator():
    pattern = re.compile(r"^\s*(from lib\.sim\b|import lib\.sim\b|from lib import .*\bsim\b)", re.MULTILINE)
    production = [*(ROOT / "lib").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), ROOT / "streamlit_app.py"]
    importers = sorted(str(path.relative_to(ROOT)) for path in production
                       if ROOT / "lib" / "sim" not in path.parents and pattern.search(path.read_text()))
    assert importers == ["lib/service/app.py"], importers


def test_poll_concurrency_and_simulator_speed_come_from_the_environment():
    settings = load_settings({"STUDIO_POLL_CONCURRENCY": "3", "STUDIO_SIM_SPEED": "20"})
    assert (settings.poll_concurrency, settings.sim_speed) == (3, 20)
    assert load_settings({}).poll_concurrency == POLL_CONCURRENCY
    with pytest.raises(ConfigError) as problem:
        load_settings({"STUDIO_POLL_CONCURRENCY": "2.5", "STUDIO_SIM_SPEED": "0"})
    assert "STUDIO_POLL_CONCURRENCY must be a whole number from 1 to 64." in str(problem.value)
    assert "STUDIO_SIM_SPEED must be a number above 0." in str(problem.value)
