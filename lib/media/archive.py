"""Keeping our own copy of every result the moment it arrives: vendor links expire (Vidu within a day).

Downloads have timeouts and retries (the shared transport), a size cap and a content-type check, and accept
only http(s) addresses; on a hosted instance they refuse private and loopback addresses, except the demo
simulator's.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lib.core import history
from lib.core.errors import StudioError
from lib.core.tasks import Media, Task
from lib.media import analysis, naming
from lib.vendors import fetch
from lib.vendors.transport import Transport

MAX_BYTES = 512 * 1024 * 1024
MAX_SECONDS = 300  # a download that trickles for longer than this is given up, whatever its pace
ACCEPTED_TYPES = {"audio": ("audio/",), "video": ("video/",), "cover": ("image/",)}
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")  # what many CDNs send for any file
FORMATS = ("mp3", "wav", "mp4")
ENCODABLE = tuple(analysis.ENCODERS)  # formats a normalised download can be rendered in
MAX_URL_CHARS = 4096
# The only names the archiver writes: <owner dir>/<studio task id>-<n>.<format>, <...>-<n>-cover.jpg,
# <...>-<n>-watermarked.mp4, the waveform's <...>-<n>-peaks.json and the loudness-normalised downloads
# <...>-<n>-lufs<14|16|23>.<mp3|wav> (made on first request from the copy beside them). Scores
# (lib.service.scoring): a video's strip of frames <id>-<n>-frames.jpg, an uploaded video <id>-1-source.<mp4|mov|
# webm>, and each mix's <score id>-<mix number>.mp4 / .wav / -peaks.json / -receipt.txt.
NAME = re.compile(r"([0-9a-f]{16})/([0-9a-f]{32})-([1-9][0-9]{0,5})"
                  r"(\.(?:mp3|wav|mp4)|-cover\.jpg|-watermarked\.mp4|-peaks\.json|-lufs(?:14|16|23)\.(?:mp3|wav)"
                  r"|-frames\.jpg|-source\.(?:mp4|mov|webm)|-receipt\.txt)")
NORMALISED = re.compile(r"(.*)-lufs(14|16|23)\.(mp3|wav)")
log = logging.getLogger(__name__)
# Media fields naming the archive's copies, with the vendor address each is a copy of.
COPIES = {"archived": "url", "archived_cover": "cover_url", "archived_watermarked": "watermarked_url"}


class ArchiveError(StudioError):
    pass


def check_url(url: str, allow_private: bool, trusted: tuple[str, ...] = ()) -> None:
    try:
        fetch.check_url(url, allow_private, trusted)
    except fetch.FetchError as error:
        raise ArchiveError(str(error)) from None


def owner_dir(owner: str) -> str:
    """The owner's folder in the archive: a hash, since names may hold any characters."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


def media_name(owner: str, studio_id: str, number: int, format: str) -> str:
    return f"{owner_dir(owner)}/{studio_id}-{number}.{format}"


def cover_name(owner: str, studio_id: str, number: int) -> str:
    return f"{owner_dir(owner)}/{studio_id}-{number}-cover.jpg"


def copy_name(owner: str, studio_id: str, number: int, copy: str, format: str) -> str:
    """The name of one of a result's copies (`copy` is a key of COPIES)."""
    if copy == "archived_cover":
        return cover_name(owner, studio_id, number)
    if copy == "archived_watermarked":
        return f"{owner_dir(owner)}/{studio_id}-{number}-watermarked.mp4"
    return media_name(owner, studio_id, number, format)


def frames_name(owner: str, studio_id: str, number: int = 1) -> str:
    """The strip of frames of a video scored (a history video's task id, or an upload's id)."""
    return f"{owner_dir(owner)}/{studio_id}-{number}-frames.jpg"


def source_name(owner: str, upload_id: str, extension: str) -> str:
    """An uploaded video to be scored (`extension`: mp4, mov or webm, as its container is)."""
    return f"{owner_dir(owner)}/{upload_id}-1-source.{extension}"


SCORE_FILES = {"video": ".mp4", "sound": ".wav", "peaks": "-peaks.json", "receipt": "-receipt.txt"}


def score_name(owner: str, score_id: str, mix: int, kind: str) -> str:
    """One file of mix number `mix` of a score (`kind` a key of SCORE_FILES)."""
    return f"{owner_dir(owner)}/{score_id}-{mix}{SCORE_FILES[kind]}"


def peaks_name(copy: str) -> str:
    """The waveform peaks file beside the archived copy named `copy`."""
    return copy.rsplit(".", 1)[0] + "-peaks.json"


def normalised_name(copy: str, target: int) -> str:
    """The loudness-normalised rendering (at `target` LUFS, one of analysis.TARGETS) of the archived audio `copy`."""
    stem, format = copy.rsplit(".", 1)
    if -target not in (14, 16, 23) or format not in ENCODABLE:
        raise ValueError(f"no normalised rendering of {copy!r} at {target}")
    return f"{stem}-lufs{-target}.{format}"


def is_archive_name(name) -> bool:
    """Whether `name` has the exact shape of a name the archiver makes (nothing absolute, no `..`)."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def owned_name(name, owner: str) -> bool:
    """Whether `name` is an archive name in `owner`'s folder (the file itself is checked when it is read)."""
    return is_archive_name(name) and name.split("/")[0] == owner_dir(owner)


def web_address(url) -> str | None:
    """`url` when it is an http(s) address a browser may fetch, else None: never a path the server opens."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        return None
    # Streamlit's players open a string as a file when such a file exists, whatever it looks like.
    return None if os.path.lexists(url) else url


@dataclass(frozen=True)
class Playback:
    """What a card shows for one result: the archive's own copy, else a web address, and plain words."""
    file: Path | None = None
    url: str | None = None
    cover: Path | None = None
    notice: str | None = None


def link_expired(url: str, now: float) -> bool:
    """Whether a signed vendor link says it has expired: Vidu's (CloudFront) links carry `Expires=<unix time>`."""
    expires = parse_qs(urlsplit(url).query).get("Expires", [""])[0]
    return expires.isdigit() and int(expires) < now


def playback(media, owner: str, archive: Archiver, now: float | None = None) -> Playback:
    """How to show `media` of a task of `owner`: only files the archiver wrote, or an http(s) address.

    A missing copy is said plainly; what the vendor sent is then offered only as a link for the browser, and only
    while it has not expired: never as a file the server reads, whatever it looks like."""
    file = archive.resolve(media.archived, owner)
    cover = archive.resolve(media.archived_cover, owner)
    if file:
        return Playback(file=file, cover=cover)
    url = web_address(media.url)
    expired = bool(url) and link_expired(url, time.time() if now is None else now)
    if url and not expired:
        notice = ("The studio's copy of this result is missing, so it plays from the vendor's link, which may "
                  "have expired." if media.archived else None)
        return Playback(url=url, cover=cover, notice=notice)
    if media.archived:
        return Playback(notice="The studio's copy of this result is missing, and " + (
            "the vendor's link to it has expired." if expired else "there is no web address to play it from."))
    if media.url and not expired:
        return Playback(notice="This result's address is not a web address, so it is not played.")
    return Playback(notice="The vendor's link to this result has expired and no copy was kept.")


class Archiver:
    def __init__(self, folder: Path, transport: Transport | None = None, *, max_bytes: int = MAX_BYTES,
                 max_seconds: float = MAX_SECONDS, allow_private: bool = False, trusted: tuple[str, ...] = ()):
        """`trusted` URL prefixes (the demo simulator) are fetched even when private addresses are not."""
        self.folder, self.max_bytes, self.allow_private = Path(folder), max_bytes, allow_private
        self.trusted = tuple(prefix.rstrip("/") + "/" for prefix in trusted)
        self.max_seconds = max_seconds
        self.transport = transport or Transport(vendor="The media server", read_timeout=60)

    def path(self, name: str) -> Path:
        """Where the archiver writes `name`; reading goes through `resolve`."""
        return self.folder / name

    def resolve(self, name, owner: str) -> Path | None:
        """The file the archiver wrote as `name` for `owner`, or None: `name` must have the archive's exact
        shape and `owner`'s folder, and be a regular file strictly inside the archive (no symlinks)."""
        return self.file(name) if owned_name(name, owner) else None

    def file(self, name) -> Path | None:
        """The file the archiver wrote as `name`, whoever it belongs to (the media route, whose signed link
        names the owner), or None: the same checks as `resolve` but the owner's."""
        if not is_archive_name(name):
            return None
        path = self.folder / name
        try:
            if not stat.S_ISDIR(path.parent.lstat().st_mode) or not stat.S_ISREG(path.lstat().st_mode):
                return None
            inside = path.resolve(strict=True).relative_to(self.folder.resolve(strict=True))
        except (OSError, ValueError):
            return None
        return path if inside == Path(name) else None

    def owner_bytes(self, owner: str) -> int:
        """What `owner`'s archive folder holds on disk, for the import quota."""
        try:
            with os.scandir(self.folder / owner_dir(owner)) as entries:
                return sum(e.stat(follow_symlinks=False).st_size for e in entries if e.is_file(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def remove(self, task: Task) -> int:
        """Delete the archive's copies of `task`'s results (only files `resolve` accepts for its owner, so never
        a name from a request); how many files went."""
        removed = 0
        for media in task.media:
            for name in (*(getattr(media, copy) for copy in COPIES), media.peaks):
                if path := self.resolve(name, task.owner):
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def archive(self, task: Task) -> Task:
        """`task` with every media file (and video cover) saved; raises ArchiveError when one cannot be."""
        saved = []
        for number, media in enumerate(task.media, start=1):
            copies = {}
            for copy, source in COPIES.items():
                # A name the archiver did not write for this owner (from a forged answer) is never kept.
                kept = getattr(media, copy) if self.resolve(getattr(media, copy), task.owner) else None
                url = getattr(media, source)
                if url and not kept:
                    kept = self._download(url, copy_name(task.owner, task.id, number, copy, media.format),
                                          "cover" if copy == "archived_cover" else media.kind)
                copies[copy] = kept
            saved.append(self._measured(task, replace(media, **copies)))
        return task.replace(media=tuple(saved))

    def measure(self, task: Task) -> Task:
        """`task` with its kept copies measured, where they were not yet (no download is made)."""
        return task.replace(media=tuple(self._measured(task, media) for media in task.media))

    def _measured(self, task: Task, media: Media) -> Media:
        """`media` with its copy, when not measured yet, tagged (prompt, seed, vendor) and then measured: peaks file,
        loudness, true peak, sample rate, channels, bitrate. A copy that cannot be measured is kept unmeasured."""
        copy = self.resolve(media.archived, task.owner)
        if copy is None or self.resolve(media.peaks, task.owner):
            return media
        try:
            sound = analysis.decode(copy)  # first: a file that is not media is left as it came
        except analysis.AnalysisError as error:
            log.warning("measuring the copy of task %s failed, so it shows no waveform: %s", task.id, error)
            return media
        try:  # tags change no sample, so what was measured is what is served
            naming.write_tags(copy, media.format, prompt=history.summary(task), seed=task.seed,
                              vendor=task.provider.value)
        except Exception as error:  # mutagen raises many kinds; a copy without tags still plays
            log.warning("tagging the copy of task %s failed: %s", task.id, error.__class__.__name__)
        if sound is None:  # a video without sound
            return media
        measured = analysis.analyse(sound)
        peaks = peaks_name(media.archived)
        partial = self.path(peaks).with_suffix(".part")
        try:
            partial.write_bytes(analysis.peaks_document(measured, len(sound.samples) / sound.rate))
            partial.replace(self.path(peaks))
        except OSError as error:
            log.warning("saving the waveform of task %s failed: %s", task.id, error)
            return media
        return replace(media, sample_rate=measured.sample_rate, channels=measured.channels,
                       bitrate=measured.bitrate, loudness=measured.loudness, true_peak=measured.true_peak,
                       peaks=peaks, duration=media.duration or round(len(sound.samples) / sound.rate, 3))

    def served(self, name) -> Path | None:
        """The file a signed link names (`file`), rendering a loudness-normalised download from the copy beside
        it on its first request; None when there is none (or it cannot be made: a silent or unreadable copy)."""
        found = self.file(name)
        match = NORMALISED.fullmatch(name) if found is None and is_archive_name(name) else None
        source = self.file(f"{match[1]}.{match[3]}") if match else None
        if source is None:
            return found
        target = self.path(name)
        partial = target.with_name(f"{target.stem}-{os.getpid()}-{threading.get_ident()}.part")  # renders may race
        try:
            sound = analysis.decode(source)
            if sound is None:
                return None
            gain = analysis.render_normalised(sound, -int(match[2]), match[3], partial)
            naming.write_tags(partial, match[3], **naming.read_tags(source, match[3]))
            partial.replace(target)
        except Exception as error:  # e.g. silence, or a damaged copy: the link answers "not valid" plainly
            log.warning("rendering %s failed: %s", name, error)
            partial.unlink(missing_ok=True)
            return None
        if gain.limited:
            log.info("%s: gain reduced to %.1f dB to keep the true peak at %.0f dBTP", name, gain.db,
                     analysis.PEAK_CEILING)
        return self.file(name)

    def _download(self, url: str, name: str, kind: str) -> str:
        # The time limit covers the whole download, waiting for the server's answer (and redirects) included: a
        # server slow to start sending holds up the poller just as much as one that trickles.
        deadline = time.monotonic() + self.max_seconds
        try:  # every redirect hop, and the address actually connected to, pass the address rule (lib.vendors.fetch)
            response = fetch.get(self.transport, url, allow_private=self.allow_private, trusted_prefixes=self.trusted)
        except fetch.FetchError as error:
            raise ArchiveError(str(error)) from None
        with response:
            if response.status_code == 403 or response.status_code == 404:
                raise ArchiveError("The vendor's link to the result has expired.")
            if response.status_code != 200:
                raise ArchiveError(f"The result could not be downloaded (HTTP {response.status_code}).")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith(ACCEPTED_TYPES[kind]) and content_type not in GENERIC_TYPES:
                raise ArchiveError(f"The result was not {kind} data ({content_type or 'no type given'}).")
            try:
                declared = int(response.headers.get("Content-Length") or 0)
            except ValueError:
                declared = 0  # an unreadable length: the running count below still caps the size
            if declared > self.max_bytes:
                raise ArchiveError("The result is larger than the archive accepts.")
            target = self.path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            # a writer's own partial file: a copy taken over from a replica thought dead never shares one
            partial = target.with_name(f"{target.name}-{os.getpid()}-{threading.get_ident()}.part")
            size = 0
            with partial.open("wb") as file:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    size += len(chunk)
                    problem = ("The result is larger than the archive accepts." if size > self.max_bytes else
                               "The result took too long to download." if time.monotonic() > deadline else None)
                    if problem:
                        file.close()
                        partial.unlink()
                        raise ArchiveError(problem)
                    file.write(chunk)
            partial.replace(target)  # a half-written file never looks archived
        return name
