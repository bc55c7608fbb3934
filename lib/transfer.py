"""Moving a person's history between instances: a ZIP with `history.json` (every parameter, state and timing)
and the archived media. Importing the same file twice, or one's own export, adds nothing twice.
"""
from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import asdict, fields
from pathlib import PurePosixPath

from lib.archive import Archiver
from lib.errors import StudioError
from lib.store import Store
from lib.tasks import Endpoint, Media, State, Task

FORMAT = "cue-studio-history"
VERSION = 1
MAX_IMPORT_BYTES = 2 * 1024 ** 3  # uncompressed, so a small hostile ZIP cannot fill the disk
PAGE = 500
TASK_FIELDS = {f.name for f in fields(Task)} - {"owner"}
MEDIA_FIELDS = {f.name for f in fields(Media)}


class ImportProblem(StudioError):
    pass


def export_zip(store: Store, archive: Archiver, owner: str) -> bytes:
    tasks, offset = [], 0
    while batch := store.find(owner, limit=PAGE, offset=offset):
        tasks += batch
        offset += PAGE
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        records = []
        for task in tasks:
            record = {k: v for k, v in asdict(task).items() if k != "owner"}
            for media in record["media"]:
                for name in ("archived", "archived_cover"):
                    if media[name] and archive.path(media[name]).exists():
                        bundle.write(archive.path(media[name]), f"media/{media[name]}")
                    else:
                        media[name] = None
            records.append(record)
        bundle.writestr("history.json", json.dumps({"format": FORMAT, "version": VERSION, "tasks": records},
                                                    indent=1))
    return buffer.getvalue()


def import_zip(store: Store, archive: Archiver, owner: str, data: bytes) -> tuple[int, int]:
    """Add the tasks of an exported ZIP to `owner`'s history. Returns (added, already there)."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
        if sum(info.file_size for info in bundle.infolist()) > MAX_IMPORT_BYTES:
            raise ImportProblem("This file is too large to import.")
        document = json.loads(bundle.read("history.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ImportProblem("This is not a Cue Studio history export (a ZIP with history.json).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportProblem("This is not a Cue Studio history export.")
    if document.get("version") != VERSION:
        raise ImportProblem("This export comes from a newer version of Cue Studio.")
    added = existing = 0
    for number, record in enumerate(document.get("tasks") or [], start=1):
        task = _task(record, owner, number)
        clash = store.get(task.id)
        if clash and clash.owner != owner:
            # Someone else on this instance has the original: this person's copy gets an id of its own, one
            # that is stable, so importing the same file again is still recognised.
            task = task.replace(id=uuid.uuid5(uuid.NAMESPACE_URL, f"{owner}/{task.id}").hex)
            clash = store.get(task.id)
        if clash:
            existing += 1
            continue
        for media in task.media:
            for name in (media.archived, media.archived_cover):
                if name:
                    _extract(bundle, archive, name)
        store.add(task)
        added += 1
    return added, existing


def _task(record, owner: str, number: int) -> Task:
    try:
        values = {k: v for k, v in record.items() if k in TASK_FIELDS}
        values["endpoint"], values["state"] = Endpoint(values["endpoint"]), State(values["state"])
        values["media"] = tuple(Media(**{k: v for k, v in m.items() if k in MEDIA_FIELDS})
                                for m in values.get("media") or [])
        values["params"] = dict(values.get("params") or {})
        values["id"] = str(values["id"])
        return Task(owner=owner, **values)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ImportProblem(f"Task {number} in this export is damaged, so nothing more was imported.") from None


def _extract(bundle: zipfile.ZipFile, archive: Archiver, name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ImportProblem("This export contains a file name that points outside its folder.")
    try:
        content = bundle.read(f"media/{name}")
    except KeyError:
        return  # the export had no copy of this file; the history says so when it is played
    target = archive.path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
