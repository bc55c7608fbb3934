"""Keeping our own copy of every result the moment it arrives: vendor links expire (Vidu within a day).

Downloads have timeouts and retries (the shared transport), a size cap and a content-type check, and accept
only http(s) addresses; on a hosted instance they refuse private and loopback addresses, except the demo
simulator's.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

from lib import fetch
from lib.errors import StudioError
from lib.tasks import Media, Task
from lib.transport import Transport

MAX_BYTES = 512 * 1024 * 1024
MAX_SECONDS = 300  # a download that trickles for longer than this is given up, whatever its pace
ACCEPTED_TYPES = {"audio": ("audio/",), "video": ("video/",), "cover": ("image/",)}
GENERIC_TYPES = ("application/octet-stream", "binary/octet-stream")  # what many CDNs send for any file


class ArchiveError(StudioError):
    pass


def check_url(url: str, allow_private: bool, trusted: tuple[str, ...] = ()) -> None:
    try:
        fetch.check_url(url, allow_private, trusted)
    except fetch.FetchError as error:
        raise ArchiveError(str(error)) from None


class Archiver:
    def __init__(self, folder: Path, transport: Transport | None = None, *, max_bytes: int = MAX_BYTES,
                 max_seconds: float = MAX_SECONDS, allow_private: bool = False, trusted: tuple[str, ...] = ()):
        """`trusted` URL prefixes (the demo simulator) are fetched even when private addresses are not."""
        self.folder, self.max_bytes, self.allow_private = Path(folder), max_bytes, allow_private
        self.trusted = tuple(prefix.rstrip("/") + "/" for prefix in trusted)
        self.max_seconds = max_seconds
        self.transport = transport or Transport(vendor="The media server", read_timeout=60)

    def path(self, name: str) -> Path:
        return self.folder / name

    def archive(self, task: Task) -> Task:
        """`task` with every media file (and video cover) saved; raises ArchiveError when one cannot be."""
        owner_dir = hashlib.sha256(task.owner.encode()).hexdigest()[:16]  # names may hold any characters
        saved = []
        for index, media in enumerate(task.media):
            stem = f"{owner_dir}/{task.id}-{index + 1}"
            archived = media.archived or self._download(media.url, f"{stem}.{media.format}", media.kind)
            cover = media.archived_cover
            if media.cover_url and not cover:
                cover = self._download(media.cover_url, f"{stem}-cover.jpg", "cover")
            saved.append(Media(**{**media.__dict__, "archived": archived, "archived_cover": cover}))
        return task.replace(media=tuple(saved))

    def _download(self, url: str, name: str, kind: str) -> str:
        # The time limit covers the whole download, waiting for the server's answer (and redirects) included: a
        # server slow to start sending holds up the poller just as much as one that trickles.
        deadline = time.monotonic() + self.max_seconds
        try:  # every redirect hop, and the address actually connected to, pass the address rule (lib.fetch)
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
            partial = target.with_suffix(target.suffix + ".part")
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
