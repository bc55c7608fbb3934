"""Downloads named for people, the tags they carry, the normalised download served by a signed link, and what the
waveform player is handed."""
from __future__ import annotations

import io
import json
import zipfile

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from lib.core.tasks import Media
from lib.core.validation import TIMING_EVENTS_MAX
from lib.media import analysis
from lib.media.archive import Archiver, normalised_name, owner_dir
from lib.media.links import DOWNLOAD_NAME, MediaLinks, route
from lib.media.naming import download_name, read_tags, slug, write_tags
from lib.service.transfer import export_zip, import_zip
from lib.store.sqlite import Store
from lib.ui.waveform import MAX_LABEL_CHARS, facts, lanes_events
from tests.test_analysis import RATE, archived_task, noise, sine


def test_a_download_is_named_by_its_prompt_duration_seed_and_vendor():
    assert download_name("Heavy rain!", 10.0, 1234, "vidu", "mp3") == "heavy-rain_10s_seed1234_vidu.mp3"
    assert download_name("Heavy rain", 2.5, None, "kling", "wav") == "heavy-rain_2.5s_kling.wav"
    assert download_name("Heavy rain", 10, 1234, "vidu", "mp3", "16lufs") == "heavy-rain_10s_seed1234_vidu-16lufs.mp3"


def test_a_prompt_with_no_latin_words_names_the_kind_of_file():
    assert download_name("下雨的声音", 5, 7, "vidu", "mp3") == "sound_5s_seed7_vidu.mp3"
    assert download_name("", None, None, "vidu", "mp4") == "video_vidu.mp4"


def test_accents_fold_to_ascii_and_long_prompts_are_cut_at_a_word():
    assert slug("Café crème à la fenêtre") == "cafe-creme-a-la-fenetre"
    cut = slug("thunder " * 40)
    assert len(cut) <= 48 and cut.endswith("thunder")


@given(prompt=st.text(max_size=3000), duration=st.none() | st.floats(0, 86400), seed=st.none() | st.integers(0, 2**63),
       suffix=st.sampled_from(["", "14lufs", "a/../b"]))
def test_every_download_name_is_one_a_signed_link_accepts(prompt, duration, seed, suffix):
    name = download_name(prompt, duration, seed, "kling", "wav", suffix)
    assert DOWNLOAD_NAME.fullmatch(name) and name.endswith(".wav")


def aac_mp4(path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, RATE // 10), np.float32), format="flt", layout="mono")
        frame.sample_rate = RATE
        for packet in (*stream.encode(frame), *stream.encode(None)):
            container.mux(packet)


@pytest.mark.parametrize("format", ["mp3", "wav", "mp4"])
def test_tags_carry_the_prompt_seed_and_vendor_and_read_back(tmp_path, format):
    path = tmp_path / f"take.{format}"
    if format == "mp4":
        aac_mp4(path)
    else:
        analysis.encode(sine(-20.0), RATE, format, path)
    write_tags(path, format, prompt="Glass shattering, 雨", seed=987654321, vendor="vidu")
    assert read_tags(path, format) == {"prompt": "Glass shattering, 雨", "seed": 987654321, "vendor": "vidu"}
    if format != "mp4":  # the sound itself is untouched by its tags
        assert analysis.loudness(analysis.decode(path).samples, RATE) == pytest.approx(-23.01, abs=0.5)


def test_a_file_without_tags_reads_none(tmp_path):
    path = tmp_path / "bare.wav"
    analysis.encode(sine(-20.0), RATE, "wav", path)
    assert read_tags(path, "wav") == {"prompt": None, "seed": None, "vendor": None}


def test_the_normalised_download_is_served_by_signed_link_at_its_loudness(tmp_path):
    archive = Archiver(tmp_path)
    task = archive.measure(archived_task(archive, noise(-40.0), format="wav"))
    links = MediaLinks(b"k" * 32)
    client = TestClient(Starlette(routes=[route(lambda: links, archive.served)]))
    name = normalised_name(task.media[0].archived, -23)
    answer = client.get(links.path(name, owner_dir(task.owner), "rain_3s_seed1234_vidu-23lufs.wav"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    assert 'filename="rain_3s_seed1234_vidu-23lufs.wav"' in answer.headers["content-disposition"]
    (tmp_path / "downloaded.wav").write_bytes(answer.content)
    assert analysis.loudness(analysis.decode(tmp_path / "downloaded.wav").samples, RATE) == pytest.approx(-23, abs=0.5)
    forged = links.path(name.replace(owner_dir(task.owner), "0" * 16), "0" * 16)
    assert client.get(forged).status_code == 403


def test_the_player_gets_bounded_checked_events_laid_out_as_the_editor_lays_them_out():
    events = [{"from": 0, "to": 2.5, "prompt": "x" * 500}, "junk", {"from": float("nan"), "to": 1},
              {"from": 8, "to": 12, "prompt": "past the end"}, *({"from": 1, "to": 2} for _ in range(100))]
    shown = lanes_events(events, 10)
    assert shown[0]["prompt"] == "x" * MAX_LABEL_CHARS and shown[0]["draw"] == [0.0, 2.5]
    assert shown[0]["lane"] == 0 and not shown[0]["invalid"]
    assert shown[1]["lane"] == 3 and shown[1]["invalid"] and shown[1]["draw"] == [8.0, 10.0]  # drawn inside
    assert shown[1]["to"] == 12  # the event itself stays as it was sent
    assert len(shown) == TIMING_EVENTS_MAX - 2  # a timeline's worth, less the two that cannot be drawn
    assert [e["lane"] for e in shown] == sorted({e["lane"] for e in shown})
    assert lanes_events(None, 10) == []



def test_the_measured_facts_read_plainly():
    media = Media("audio", "u", "mp3", sample_rate=48000, channels=2, bitrate=192000, loudness=-18.24, true_peak=-1.3)
    assert facts(media) == "−18.2 LUFS · peak −1.3 dBTP · 48 kHz stereo · 192 kb/s"
    assert facts(Media("audio", "u", "wav", loudness=analysis.SILENT_LUFS, true_peak=analysis.SILENT_DBTP)) == "silent"
    assert facts(Media("audio", "u", "wav")) == ""


def test_an_import_measures_its_own_copies_and_takes_no_number_from_the_export(tmp_path, store):
    archive = Archiver(tmp_path / "media")
    task = archive.measure(archived_task(archive, sine(-20.0), format="wav"))
    store.add(task)
    exported = io.BytesIO()
    export_zip(store, archive, task.owner, exported)
    with zipfile.ZipFile(exported) as bundle:  # a forged export: numbers that are not this file's
        document = json.loads(bundle.read("history.json"))
        document["tasks"][0]["media"][0].update(loudness=5.0, true_peak=99.0, sample_rate=7, peaks="x/../../y")
        members = {name: bundle.read(name) for name in bundle.namelist() if name != "history.json"}
    forged = io.BytesIO()
    with zipfile.ZipFile(forged, "w") as bundle:
        bundle.writestr("history.json", json.dumps(document))
        for name, content in members.items():
            bundle.writestr(name, content)
    other = Archiver(tmp_path / "other")
    other_store = Store(tmp_path / "other.db")
    assert import_zip(other_store, other, "bob", io.BytesIO(forged.getvalue())).added == 1
    (imported,) = other_store.find("bob")
    media = imported.media[0]
    assert (media.sample_rate, media.channels) == (RATE, 1)
    assert media.loudness == pytest.approx(-23.01, abs=0.1) and media.true_peak == pytest.approx(-20.0, abs=0.1)
    assert other.resolve(media.peaks, "bob") is not None
