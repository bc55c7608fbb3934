"""The benchmarks, run once with tiny numbers so they cannot rot; they must produce every figure (never timing).

Plus the pure helpers they compute the figures with, and the stand-in vendor's own additions.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench import load, media_size
from bench.standin import StandIn
from lib.sim.options import DEMO_VIDU_KEY

ROOT = Path(__file__).resolve().parents[1]

NUMBER = r"[0-9]+(\.[0-9]+)?"


def test_percentile_interpolates_between_ranks():
    assert load.percentile([3.0], 0.95) == 3.0
    assert load.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert load.percentile([0.0, 10.0], 0.95) == 9.5
    assert load.percentile([5.0, 1.0, 3.0], 1.0) == 5.0


def test_most_in_window_counts_queries_closer_than_one_interval():
    assert load.most_in_window([0.0, 1.0, 2.0, 3.0], 0.95) == 1
    assert load.most_in_window([0.0, 0.5, 1.0, 1.2, 5.0], 0.95) == 3
    assert load.most_in_window([], 0.95) == 0


def test_seeded_results_have_their_size_a_unique_tail_and_take_no_room(tmp_path):
    tasks = media_size.seed(tmp_path, [media_size.BIG, media_size.SMALL], "tester 1")
    files = [tmp_path / "media" / task.media[0].archived for task in tasks]
    assert [path.stat().st_size for path in files] == [media_size.BIG, media_size.SMALL]
    assert files[0].read_bytes()[-32:] != files[1].read_bytes()[-32:]
    assert files[0].stat().st_blocks * 512 < media_size.MB  # sparse: the padding is a hole
    head = files[0].read_bytes()[:16]
    assert head[4:8] == b"ftyp"  # still an MP4 from its first box
    assert all(task.owner == "tester 1" for task in tasks)


def test_the_stand_in_logs_every_query_and_knows_when_a_task_succeeded():
    standin = StandIn(speed=50)
    try:
        headers = {"Authorization": f"Token {DEMO_VIDU_KEY}"}
        created = requests.post(f"{standin.url}/ent/v2/text2audio", json={"model": "audio1.0", "prompt": "rain",
                                                                          "duration": 3}, headers=headers, timeout=10)
        vendor_id = created.json()["task_id"]
        assert standin.succeeded_at("vidu", vendor_id) is None
        requests.get(f"{standin.url}/ent/v2/tasks/{vendor_id}/creations", headers=headers, timeout=10)
        assert [(q.vendor, q.ref) for q in standin.queries] == [("vidu", vendor_id)]
    finally:
        standin.stop()


def test_a_trickled_file_arrives_whole_and_its_connection_keeps_working():
    standin = StandIn(speed=50)
    try:
        headers = {"Authorization": f"Token {DEMO_VIDU_KEY}"}
        with requests.Session() as session:  # one kept-alive connection for every request below
            vendor_id = session.post(f"{standin.url}/ent/v2/text2audio", headers=headers, timeout=10, json={
                "model": "audio1.0", "prompt": "rain", "duration": 3}).json()["task_id"]
            standin.trickle("vidu", vendor_id, 0.3)
            deadline = time.monotonic() + 30
            while standin.succeeded_at("vidu", vendor_id) is None and time.monotonic() < deadline:
                time.sleep(0.01)  # the stand-in's own record, no request
            url = session.get(f"{standin.url}/ent/v2/tasks/{vendor_id}/creations", headers=headers,
                              timeout=10).json()["creations"][0]["url"]
            name = url.split("/_sim/media/")[1].split("?")[0]
            trickled = session.get(url, timeout=10)
            after = session.get(f"{standin.url}/ent/v2/tasks/{vendor_id}/creations", headers=headers, timeout=10)
        assert trickled.status_code == 200 and trickled.content == standin.assets.read(name)[0]
        assert after.status_code == 200 and after.json()["id"] == vendor_id
    finally:
        standin.stop()


def test_every_benchmark_writes_its_figures(tmp_path):
    output = tmp_path / "RESULTS.md"
    # A process of its own: Playwright's sync API refuses to start inside the browser tests' event loop.
    subprocess.run([sys.executable, "-m", "bench.run", "--tasks", "12", "--rounds", "1", "--runs", "1",
                    "--load-tasks", "2", "--replica-tasks", "3", "--trickle", "0.5", "--vendor-speed", "20",
                    "--sessions", "1",
                    "--results", "2", "--result-mb", "1", "--groups", "3", "--score-runs", "1", "--score-seconds", "2",
                    "--score-resolution", "360p", "--output", str(output)],
                   cwd=ROOT, check=True, timeout=600)
    text = output.read_text()
    assert "**Failed**" not in text, text
    for heading in ("Script time per rerun", "Success to playable", "Load", "History's rerun time",
                    "server memory", "Score mixdown: last part to playable MP4 (2 s 640x360 video, median of 1 runs)"):
        assert f"{heading}" in text
    assert re.search(rf"\| History \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \|", text)
    assert re.search(rf"\| History, list mode, 3 requests × 4 takes \| {NUMBER} \| {NUMBER} \|", text)
    assert "History drew 12 take rows (12 with a sound)" in text
    assert re.search(rf"\| the `<audio>` being playable \(readyState ≥ 1\) \| {NUMBER} \| {NUMBER} \|", text)
    assert re.search(rf"\| 2 \| under load \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| [0-9]+ \|", text)
    assert re.search(rf"\| 2 \| × baseline \| {NUMBER} \| {NUMBER} \| {NUMBER} \|", text)
    for engines in (1, 3):  # the replicas round (PostgreSQL: ./test.sh starts one)
        assert re.search(rf"\| {engines} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} \| [0-9]+ \|", text)
    assert re.search(rf"\| 3: × 1 \| {NUMBER} \| {NUMBER} \| {NUMBER} \|", text)  # against the same run's one engine
    assert re.search(rf"10 MB results / 0.1 MB results: {NUMBER}×", text)
    assert re.search(rf"\| resident memory, VmRSS \(MB\) \| {NUMBER} \| {NUMBER} \| [+-]{NUMBER} \|", text)
    assert re.search(rf"\| Streamlit's media store, `/_stcore/metrics` \(MB\) \| ({NUMBER}|not exposed) \|", text)
    assert re.search(rf"\| the score's MP4 being playable \(render, then its first video and audio frames\) \| "
                     rf"{NUMBER} \| {NUMBER} \|", text)
    assert re.search(rf"The mix: -{NUMBER} LUFS \(target -14\), true peak -{NUMBER} dBTP, picture h264 copied", text)
