"""A realistic history written straight into a data directory: what the studio would hold after months of use.

A mix of the four endpoints; half the tasks succeeded with their media archived on disk (real MP3, WAV, MP4
and JPEG files, rendered once by the simulator's own encoders), some succeeded but kept no copy, the rest failed
or were cancelled, and a couple are still in flight (parked so the poller leaves them alone).
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import copy_name
from lib.sim import media
from lib.store.sqlite import Store

OWNER = "local"  # the one user of a studio without a password
FOLDER = "bench"  # inside the archive folder (data/media), next to where real archived files go
WEIGHTS = {Endpoint.VIDU_TEXT2AUDIO: 40, Endpoint.VIDU_TIMING2AUDIO: 15, Endpoint.VIDU_TEXT2VIDEO: 25,
           Endpoint.KLING_TEXT2AUDIO: 20}
# One cycle of 20 finished tasks: 10 archived successes, 1 success whose vendor link expired uncopied,
# 6 failures, 3 cancellations.
CYCLE = [State.SUCCEEDED] * 11 + [State.FAILED] * 6 + [State.CANCELLED] * 3
IN_FLIGHT = (State.QUEUED, State.RUNNING)
FAILURES = [("AuditSubmitIllegal", "The prompt did not pass the vendor's content review."),
            ("CreditInsufficient", "Not enough credits left for this task."),
            ("InternalServiceFailure", "The vendor could not generate this result; try again.")]


def _pool(folder: Path) -> dict[Endpoint, list[list[tuple[str, str]]]]:
    """A few distinct result files per endpoint, rendered once: [(format, file name), ...] per result."""
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, data: bytes) -> str:
        (folder / name).write_bytes(data)
        return name

    pool: dict[Endpoint, list] = {endpoint: [] for endpoint in WEIGHTS}
    for seed in range(6):
        samples = media.render_sound(spec(Endpoint.VIDU_TEXT2AUDIO).examples[seed % 4]["prompt"], 10, seed)
        pool[Endpoint.VIDU_TEXT2AUDIO].append([("mp3", write(f"sound-{seed}.mp3", media.encode_mp3(samples)))])
    events = [(e["from"], e["to"], e["prompt"]) for e in spec(Endpoint.VIDU_TIMING2AUDIO).examples[0]["timing_prompts"]]
    for seed in range(3):
        samples = media.render_timeline(events, 10, seed)
        pool[Endpoint.VIDU_TIMING2AUDIO].append([("mp3", write(f"timed-{seed}.mp3", media.encode_mp3(samples)))])
    for seed in range(3):
        samples = media.render_sound(spec(Endpoint.KLING_TEXT2AUDIO).examples[seed]["prompt"], 5, seed)
        pool[Endpoint.KLING_TEXT2AUDIO].append([("mp3", write(f"kling-{seed}.mp3", media.encode_mp3(samples))),
                                                ("wav", write(f"kling-{seed}.wav", media.encode_wav(samples)))])
    for seed in range(2):
        video, cover = media.render_video(spec(Endpoint.VIDU_TEXT2VIDEO).examples[seed]["prompt"], 5, 1280, 720, seed)
        pool[Endpoint.VIDU_TEXT2VIDEO].append([("mp4", write(f"video-{seed}.mp4", video)),
                                               ("jpg", write(f"video-{seed}.jpg", cover))])
    return pool


def _media(endpoint: Endpoint, task_id: str, files: list[tuple[str, str]], archive: Path | None) -> tuple:
    """The task's media records; with `archive`, each file gets its own archived name (a hard link to the pool),
    named the way the archiver names its copies (anything else the studio refuses to play)."""
    url = f"https://cdn.vendor.invalid/{task_id}"

    def archived(number: int, copy: str, fmt: str, name: str) -> str | None:
        if archive is None:
            return None
        own = copy_name(OWNER, task_id, number, copy, fmt)
        (archive / own).parent.mkdir(parents=True, exist_ok=True)
        os.link(archive / FOLDER / "pool" / name, archive / own)
        return own

    if endpoint is Endpoint.VIDU_TEXT2VIDEO:
        (_, video), (_, cover) = files
        return (Media("video", f"{url}.mp4", "mp4", 5.0, cover_url=f"{url}.jpg",
                      archived=archived(1, "archived", "mp4", video),
                      archived_cover=archived(1, "archived_cover", "jpg", cover)),)
    return tuple(Media("audio", f"{url}.{fmt}", fmt, 5.0 if endpoint is Endpoint.KLING_TEXT2AUDIO else 10.0,
                       archived=archived(number, "archived", fmt, name))
                 for number, (fmt, name) in enumerate(files, start=1))


def seed(data_dir: Path, count: int = 1000) -> Store:
    """Write `count` tasks for the local user into the studio's store under `data_dir`."""
    store = Store(data_dir / "studio.db")
    archive = data_dir / "media"
    pool = _pool(archive / FOLDER / "pool")
    rng, now = random.Random(1), time.time()
    endpoints = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)
    for number, endpoint in enumerate(endpoints):
        in_flight = number < len(IN_FLIGHT)
        created = now - 60 - number * (30 if in_flight else 5400)  # newest first, then one every 90 min: 2 months
        state = IN_FLIGHT[number] if in_flight else CYCLE[number % len(CYCLE)]
        examples = spec(endpoint).examples
        params = {**spec(endpoint).fixed, **examples[number % len(examples)]}
        task = Task(endpoint, params, owner=OWNER, vendor_id=str(10**17 + number), state=state,
                    raw_state=state.value, created_at=created, updated_at=created + 30,
                    credits=None if in_flight else 10.0)
        if state is State.RUNNING:
            task = task.replace(progress=40, started_at=now - 20)
        elif not in_flight:
            task = task.replace(started_at=created + 5, finished_at=created + 30)
        if state is State.SUCCEEDED:
            keep = number % len(CYCLE) != 10  # one in the cycle lost its copy and its link expired
            task = task.replace(progress=100, media=_media(endpoint, task.id, rng.choice(pool[endpoint]),
                                                           archive if keep else None))
        elif state is State.FAILED:
            code, message = FAILURES[number % len(FAILURES)]
            task = task.replace(error_code=code, error_message=message, trace_id=f"trace-{number}", credits=0.0)
        elif state is State.CANCELLED:
            task = task.replace(error_code="UserCancelled", credits=0.0)
        store.add(task)
        if in_flight:
            store.schedule(task.id, float("inf"), 1.0)  # parked: the bench's poller must not change the data
    return store
