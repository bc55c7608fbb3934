"""Scores: what the Score page asks of the studio, and the worker's steps that follow a score to its MP4.

A score's parts are ordinary Vidu tasks, recorded with the score in one transaction and then sent through the
studio's own path (`lib.service.studio.send_all`), so the poller follows and archives them like any task and a
restart loses nothing. `advance` is the worker's step (run on every pass of the Poller): a score whose parts are
all back is failed (naming the part and why) or handed to the mix; a mix asked for and not yet written is
rendered on a small pool from the archived parts (lib.media.mixdown), never twice at once, and saved with its
files and receipt. With several studio processes a mix is leased in the store to the one rendering it (renewed
while it renders), so it is rendered by one of them, and by another if that one dies. A re-mix asks for the next mix number: no vendor request.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from lib.core import history
from lib.core.errors import InvalidRequest, Problem, StudioError
from lib.core.score import (
    MAX_VIDEO_SECONDS,
    Mix,
    Part,
    Score,
    ScoreState,
    Source,
    cuts,
    mix_problems,
    problems,
    receipt_lines,
    requests,
    silent_stretches,
)
from lib.core.takes import seeds, take_count
from lib.core.tasks import Endpoint, State, Task
from lib.core.validation import SEED_MAX, as_number
from lib.media import mixdown, video
from lib.media.archive import Archiver, frames_name, owner_dir, score_name, source_name
from lib.service import budget, studio
from lib.service.poller import LEASE_SECONDS, describe
from lib.store.base import BaseStore as Store  # either backend (lib.store.open_store)

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 200 * 1024 ** 2  # an uploaded video; the Score page states it
UPLOAD_CHUNK = 1 << 20
RENDERS = 2  # mixes rendered at once: each decodes, mixes and muxes a whole video on a 2-core server
ENDPOINTS = {"effects": Endpoint.VIDU_TIMING2AUDIO, "music": Endpoint.VIDU_TEXT2AUDIO}
MIX_FAILED = "The mix could not be made: {reason}"
LABEL_CHARS = 120
UPLOAD_FORMATS = ("mp4", "mov", "webm")


class ScoreError(StudioError):
    """Something about a score a person must know, in plain words."""


def _extension(facts: video.VideoFacts) -> str | None:
    """mp4, mov or webm as the probe found the container (by the file's content, never its name); None else."""
    return facts.container if facts.container in UPLOAD_FORMATS else None


class Scores:
    def __init__(self, store: Store, vendors: studio.Vendors, archive: Archiver, *, quota_bytes: int,
                 renders: int = RENDERS, secrets: Iterable[str | None] = ()):
        """`quota_bytes`: how much media one person's archive folder may hold (an upload must fit)."""
        self.store, self.vendors, self.archive, self.quota_bytes = store, vendors, archive, quota_bytes
        self.secrets = tuple(s for s in secrets if s)
        self._pool = ThreadPoolExecutor(renders, thread_name_prefix="cue-mix")
        self._claims = threading.Lock()
        self._rendering: set[str] = set()  # scores whose mix is queued or being rendered in this process
        self._leased: set[str] = set()  # scores whose mix lease this process holds (being rendered)

    def close(self) -> None:
        """Stop taking mixes: one being rendered finishes, queued ones are rendered after the next start."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- the video being scored ----

    def source_from_task(self, owner: str, task: Task) -> Source:
        """A finished video of `owner`'s history, as the archive holds it, with its strip of frames."""
        stored = self.store.get(task.id, owner)
        if stored is None or stored.endpoint.media_kind != "video" or stored.state is not State.SUCCEEDED:
            raise ScoreError("Only a finished video of your own history can be scored.")
        media = next((m for m in stored.media if m.kind == "video"), None)
        path = self.archive.resolve(media.archived, owner) if media else None
        if path is None:
            raise ScoreError("The studio kept no copy of this video, so it cannot be scored.")
        try:
            facts = video.probe(path)
            frames = self._frames(path, owner, frames_name(owner, stored.id))
        except video.VideoError as error:
            raise ScoreError(str(error)) from None
        label = history.summary(stored)[:LABEL_CHARS] or "A video from your history"
        return Source(name=media.archived, duration=facts.duration, width=facts.width, height=facts.height,
                      has_audio=facts.has_audio, label=label, task_id=stored.id, frames=frames)

    def source_from_upload(self, owner: str, upload: BinaryIO, filename: str) -> Source:
        """An uploaded video (MP4, MOV or WebM by its content, up to MAX_UPLOAD_BYTES and MAX_VIDEO_SECONDS, within
        the person's media quota), copied in chunks into the archive; nothing is left behind when refused."""
        upload_id = uuid.uuid4().hex
        partial = self.archive.path(f"{owner_dir(owner)}/{upload_id}-1-source.part")
        partial.parent.mkdir(parents=True, exist_ok=True)
        room = self.quota_bytes - self.archive.owner_bytes(owner)
        limit, over = min((MAX_UPLOAD_BYTES, f"This video is larger than {MAX_UPLOAD_BYTES // 1024 ** 2} MB, more "
                                             "than the studio accepts."),
                          (room, "This video would go over your storage quota. Delete some results first."))
        target = None
        try:
            size = 0
            with partial.open("wb") as file:
                while chunk := upload.read(UPLOAD_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ScoreError(over)
                    file.write(chunk)
            try:
                facts = video.probe(partial, MAX_VIDEO_SECONDS)
            except video.VideoError as error:
                raise ScoreError(str(error)) from None
            extension = _extension(facts)
            if extension is None:
                raise ScoreError("Only MP4, MOV and WebM videos can be scored.")
            name = source_name(owner, upload_id, extension)
            target = self.archive.path(name)
            partial.replace(target)
            try:
                frames = self._frames(target, owner, frames_name(owner, upload_id))
            except video.VideoError as error:
                raise ScoreError(str(error)) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            if target is not None:
                target.unlink(missing_ok=True)
            raise
        label = Path(filename).name[:LABEL_CHARS] if isinstance(filename, str) and filename.strip() else ""
        return Source(name=name, duration=facts.duration, width=facts.width, height=facts.height,
                      has_audio=facts.has_audio, label=label or "An uploaded video", frames=frames)

    def _frames(self, path: Path, owner: str, name: str) -> str:
        """The strip of frames `name` of `owner`'s video at `path`, written once (through a file of its own first)."""
        if self.archive.resolve(name, owner) is None:
            target = self.archive.path(name)
            partial = target.with_name(f"{target.stem}-{threading.get_ident()}.part.jpg")
            try:
                video.frames_strip(path, partial)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
        return name

    # ---- asking for a score ----

    def estimate(self, source: Source | None, events, music_prompt, takes: int) -> tuple[int, float]:
        """(requests, credits): what Generate would send for `takes` takes; nothing while it could not."""
        if problems(source, events, music_prompt, Mix()):
            return 0, 0
        asked = requests(events, music_prompt, source.duration, 0)
        count = take_count(takes)
        return len(asked) * count, sum(budget.price(ENDPOINTS[role], body) for role, _, body in asked) * count

    def submit(self, owner: str, source: Source | None, events, music_prompt, mix: Mix, takes: int, seed,
               token: str | None = None, budgets: budget.Budgets | None = None) -> list[Score]:
        """Validate everything, check the budget with every part of every take, record the scores and their parts
        in one go, then send every part at once. `token` (the form's submission token) used before: those scores,
        nothing sent. Raises InvalidRequest or budget.OverBudget with nothing recorded nor sent."""
        found = problems(source, events, music_prompt, mix)
        if source is not None and self.archive.resolve(source.name, owner) is None:  # only the owner's own copy
            found.append(Problem("source", "The studio no longer has this video: choose it again.", "missing"))
        typed = as_number(seed) if seed not in (None, "") else 0
        if typed is None or typed != int(typed) or not 0 <= typed <= SEED_MAX:
            found.append(Problem("seed", f"The seed must be a whole number from 0 to {SEED_MAX}."))
        if found:
            raise InvalidRequest(found)
        if token and (earlier := self.store.scores_of(owner, token)):
            return earlier
        events = [{"from": float(as_number(e["from"])), "to": float(as_number(e["to"])), "prompt": e["prompt"]}
                  for e in events]
        takes_asked = [(take_seed, requests(events, music_prompt, source.duration, take_seed))
                       for take_seed in seeds(int(typed), take_count(takes))]
        if budgets is not None:
            budget.check(self.store, self.vendors, [(ENDPOINTS[role], body) for _, asked in takes_asked
                                                    for role, _, body in asked], owner, budgets)
        group_id, scores, tasks = uuid.uuid4().hex, [], []
        for take_seed, asked in takes_asked:
            score_id = uuid.uuid4().hex
            parts = [studio.recorded(self.vendors, ENDPOINTS[role], body, owner, False, score_id).replace(
                score_id=score_id) for role, _, body in asked]
            scores.append(Score(source=source, events=tuple(events), music_prompt=music_prompt.strip(),
                                parts=_parts(parts, asked, source.duration), mix=mix, id=score_id, owner=owner,
                                group_id=group_id, seed=take_seed or None))
            tasks += parts
        stored, new = self.store.add_score(scores, tasks, token)
        if new:
            studio.send_all(self.store, self.vendors, tasks)
        return stored

    # ---- reading scores ----

    def recent(self, owner: str, limit: int = 10) -> list[Score]:
        return self.store.recent_scores(owner, limit)

    def get(self, score_id: str, owner: str) -> Score | None:
        return self.store.get_score(score_id, owner)

    def parts(self, score: Score) -> list[Task]:
        """The part tasks of `score`, in the order of its parts."""
        found = {task.id: task for task in self.store.score_parts(score.id)}
        return [found[part.task_id] for part in score.parts if part.task_id in found]

    def remix(self, score_id: str, owner: str, mix: Mix) -> Score:
        """Mix `owner`'s score again with `mix`, from its stored parts: the next mix number, no vendor request."""
        if found := mix_problems(mix):
            raise InvalidRequest(found)
        score = self.store.get_score(score_id, owner)
        if score is None:
            raise ScoreError("There is no such score in your history.")
        if score.state is ScoreState.FAILED and self._missing(score, self.parts(score)):
            raise ScoreError("Not every part of this score arrived, so it cannot be mixed again.")
        remixed = self.store.remix_score(score_id, owner, mix)
        if remixed is None:  # deleted meanwhile
            raise ScoreError("There is no such score in your history.")
        return remixed

    # ---- the worker's step ----

    def advance(self, now: float) -> None:
        """Move every score on that can move: parts all back -> FAILED (which part, and why) or MIXING; a mix
        asked for and not yet written -> rendered on the pool. Each score's failure is its own."""
        for score in self.store.scores_in(ScoreState.GENERATING, ScoreState.MIXING, unleased_at=now):
            try:
                if score.state is ScoreState.GENERATING:
                    self._check_parts(score)
                elif score.mix_version > score.mixed_version:
                    self._render_later(score.id)
            except Exception as error:  # one bad score must not hold up the others
                log.warning("advancing score %s failed: %s", score.id, describe(error, self.secrets))

    def renew(self, now: float) -> None:
        """Renew the leases of the mixes this process is rendering (with the worker's leases, every second)."""
        with self._claims:
            leased = list(self._leased)
        self.store.renew_mixes(leased, now + LEASE_SECONDS)

    def _missing(self, score: Score, tasks: list[Task]) -> str | None:
        """Why not every part of `score` is an archived success, in plain words (None: they all are)."""
        found = {task.id: task for task in tasks}
        for part in score.parts:
            task = found.get(part.task_id)
            if task is None:
                return f"{part.name} is missing from the history."
            if task.state is State.CANCELLED:
                return f"{part.name} was cancelled."
            if task.state is State.FAILED:
                reason = (task.error_message or "the vendor gave no reason").rstrip(".")
                return f"{part.name} failed: {reason}."
            if task.state is State.SUCCEEDED and not self._copies(task):
                return f"{part.name} arrived, but no copy of it could be kept."
        return None

    def _copies(self, task: Task) -> list[Path]:
        """The archived audio files of a part task (empty: none kept)."""
        paths = [self.archive.resolve(m.archived, task.owner) for m in task.media if m.kind == "audio"]
        return paths if paths and all(paths) else []

    def _check_parts(self, score: Score) -> None:
        tasks = self.parts(score)
        if len(tasks) == len(score.parts) and any(not t.state.terminal or t.copying for t in tasks):
            return  # still being made or copied
        if problem := self._missing(score, tasks):
            self.store.move_score(score.id, ScoreState.FAILED, was=ScoreState.GENERATING, error_message=problem)
        else:
            self.store.move_score(score.id, ScoreState.MIXING, was=ScoreState.GENERATING)

    def _render_later(self, score_id: str) -> None:
        with self._claims:
            if score_id in self._rendering:
                return
            self._rendering.add(score_id)
        try:
            self._pool.submit(self._render_job, score_id)
        except RuntimeError:  # shut down meanwhile: the next start renders it
            with self._claims:
                self._rendering.discard(score_id)

    def _render_job(self, score_id: str) -> None:
        claimed = False
        try:
            if not (claimed := self.store.claim_mix(score_id, time.time(), time.time() + LEASE_SECONDS)):
                return  # another process is rendering it
            with self._claims:
                self._leased.add(score_id)
            score = self.store.get_score(score_id)
            if score is None or score.state is not ScoreState.MIXING or score.mix_version <= score.mixed_version:
                return
            try:
                self._render(score)
            except Exception as error:
                log.warning("mixing score %s failed: %s", score_id, describe(error, self.secrets))
                latest = self.store.get_score(score_id)
                if latest is not None and latest.mix_version == score.mix_version:  # else the next mix is tried
                    reason = str(error) if isinstance(error, StudioError) else "the studio ran into a problem."
                    reason = reason[:1].lower() + reason[1:]  # it follows a colon
                    self.store.move_score(score_id, ScoreState.FAILED, was=ScoreState.MIXING,
                                          error_message=MIX_FAILED.format(reason=reason))
        finally:
            if claimed:
                self.store.release_mix(score_id)
            with self._claims:
                self._rendering.discard(score_id)
                self._leased.discard(score_id)

    def _render(self, score: Score) -> None:
        """Render the mix `score` asks for from its archived parts, save it, and remove the files it replaces."""
        started, version, owner = time.monotonic(), score.mix_version, score.owner
        picture = self.archive.resolve(score.source.name, owner)
        if picture is None:
            raise ScoreError("The studio's copy of the video is gone.")
        tasks = {task.id: task for task in self.parts(score)}
        if problem := self._missing(score, list(tasks.values())):
            raise ScoreError(problem)
        effects = [part for part in score.parts if part.role == "effects"]
        music = next((part for part in score.parts if part.role == "music"), None)
        names = {kind: score_name(owner, score.id, version, kind) for kind in ("video", "sound", "peaks", "receipt")}
        rendered = mixdown.render(
            picture, video.probe(picture), [(part.start, self._copies(tasks[part.task_id])[0]) for part in effects],
            [part.cut for part in effects[:-1]], self._copies(tasks[music.task_id])[0] if music else None,
            score.mix, self.archive.path(names["video"]), self.archive.path(names["sound"]),
            self.archive.path(names["peaks"]))
        receipt = _receipt(score, rendered, tasks)
        self.archive.path(names["receipt"]).write_text(
            "\n".join(receipt_lines(replace(score, receipt=receipt))) + "\n", encoding="utf-8")
        saved = self.store.mixed(score.id, version, video=names["video"], sound=names["sound"], peaks=names["peaks"],
                                 receipt=receipt, receipt_file=names["receipt"])
        # The files of the mix no longer shown go: the previous one's once this one is saved, or this one's when
        # a later mix was saved first.
        gone = [name for name in (score.video, score.sound, score.peaks, score.receipt_file)
                if name not in names.values()] if saved else list(names.values())
        for name in gone:
            if path := self.archive.resolve(name, owner):
                path.unlink(missing_ok=True)
        log.info("score %s: mix %d rendered in %.1f s", score.id, version, time.monotonic() - started)


def _parts(tasks: list[Task], asked: list, duration: float) -> tuple[Part, ...]:
    """The parts of one take: each effects window where it lies, with its cut into the next; the music bed over
    the whole video."""
    windows = [window for _, window, _ in asked if window is not None]
    after = iter([*cuts(windows), None])
    return tuple(Part(task.id, role, window.start, window.end, next(after)) if window is not None
                 else Part(task.id, role, 0.0, duration) for task, (role, window, _) in zip(tasks, asked))


def _receipt(score: Score, rendered: mixdown.Rendered, tasks: dict[str, Task]) -> dict:
    """What was done, for people: the mix's facts, every request with its cost, and what is silent and why."""
    asked = []
    for part in score.parts:
        task = tasks[part.task_id]
        credits = task.credits if task.credits is not None else budget.price(task.endpoint, task.params)
        asked.append({"task_id": task.id, "role": part.role, "start": part.start, "end": part.end,
                      "seconds": as_number(task.params.get("duration")) or 0, "credits": credits})
    notes = list(rendered.notes)
    spans = [(part.start, part.end) for part in score.parts if part.role == "effects"]
    if not spans:
        notes.append("No sound events: the effects layer is silent.")
    else:
        notes += [f"No sound events between {start:g} and {end:g} s: the effects layer is silent there."
                  for start, end in silent_stretches(spans, rendered.video_seconds) if end - start > 0.01]
    return {"video_seconds": rendered.video_seconds, "sound_seconds": rendered.sound_seconds,
            "fitted": rendered.fitted, "loudness": rendered.loudness, "true_peak": rendered.true_peak,
            "target": rendered.target, "layers": [dict(layer) for layer in rendered.layers], "ducked": rendered.ducked,
            "video_codec": rendered.video_codec, "video_copied": rendered.video_copied, "requests": asked,
            "cost": sum(request["credits"] for request in asked), "notes": notes}
