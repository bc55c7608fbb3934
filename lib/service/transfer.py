"""Moving a person's history between instances: a ZIP with `history.json` (every parameter, state and timing)
and the archived media.

An import chooses nothing: every field is checked like a vendor's answer, the owner is the importer, the
studio's ids and media names are new (stable, so importing the same file twice adds nothing twice), nothing is
followed at a vendor, and every limit counts the bytes really read, never the sizes the ZIP declares.
"""
from __future__ import annotations

import json
import math
import re
import struct
import time
import uuid
import zipfile
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from lib.core.endpoints import SPECS
from lib.core.errors import StudioError
from lib.core.history import summary
from lib.core.tasks import Endpoint, Media, State, Task
from lib.media.archive import (
    COPIES,
    Archiver,
    copy_name,
    is_archive_name,
    owner_dir,
    web_address,
)
from lib.media.naming import download_name
from lib.store.base import BaseStore as Store  # either backend (lib.store.open_store)

FORMAT = "cue-studio-history"
VERSION = 2  # 2: the vendor's id is `vendor_id` (version 1 called it `task_id`)
PAGE = 500
CHUNK = 1 << 16
NOT_FOLLOWED = "not_followed"
KINDS = {"audio": ("mp3", "wav"), "video": ("mp4",)}
EXPORT_NAME = re.compile(r"[0-9a-f]{16}/[0-9a-f]{32}\.zip")
EXPORT_KEEP_SECONDS = 8 * 3600  # longer than a download link lives (lib.media.links), then the file goes
MAX_SELECTED_TAKES = 50  # one "download the chosen takes" ZIP
MAX_SELECTED_BYTES = 1 << 30
LATEST_TIME = 4102444800.0  # 2100-01-01: a timestamp past this is not one the studio wrote
# One part of an export: well under the upload limit (server.maxUploadSize, 200 MB), so any export can be imported;
# read when an export is written, so tests set a small one.
PART_BYTES = 150 * 1024 ** 2
MEMBER_OVERHEAD = 512  # bytes: a file's two ZIP headers (its name twice) and what deflate adds to media
PART_TASKS = 5_000  # records in one part: half what one import accepts (Limits.tasks), so no part is refused


@dataclass(frozen=True)
class Limits:
    """What one import may bring in; every byte figure counts bytes really read or on disk."""
    member_bytes: int = 512 * 1024 ** 2  # one media file, as the archiver's own downloads
    total_bytes: int = 2 * 1024 ** 3  # all media of one import
    owner_bytes: int = 5 * 1024 ** 3  # the importer's archive folder afterwards (the quota)
    document_bytes: int = 32 * 1024 ** 2  # history.json
    directory_bytes: int = 8 * 1024 ** 2  # the ZIP's list of members, which ZipFile reads whole into memory
    tasks: int = 10_000
    media_per_task: int = 8
    text_chars: int = 10_000  # any one string
    params_depth: int = 6
    params_chars: int = 100_000  # the parameters as JSON


class ImportProblem(StudioError):
    pass


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (task number in the export, why)
    part: tuple[int, int] = (1, 1)  # which part of its export the file was: (k, n)

    @property
    def message(self) -> str:
        """E.g. "Imported 7 tasks from part 2 of 3; 2 were already in your history; task 3 was skipped: …"."""
        part = f" from part {self.part[0]} of {self.part[1]}" if self.part[1] > 1 else ""
        parts = [f"Imported {self.added} task{'s' * (self.added != 1)}{part}"]
        if self.existing:
            parts.append(f"{self.existing} {'was' if self.existing == 1 else 'were'} already in your history")
        shown = self.skipped[:10]
        parts += [f"task {number} was skipped: {why}" for number, why in shown]
        if len(self.skipped) > len(shown):
            parts.append(f"{len(self.skipped) - len(shown)} more tasks were skipped")
        return "; ".join(parts) + "."


# ---- export ----

def export_records(store: Store, archive: Archiver, owner: str | None) -> list[tuple[dict, list[tuple[Path, str]]]]:
    """`owner`'s tasks (everyone's for None: the team library) as export records, each with the archived files
    it carries (the file, its name inside the ZIP): only files `archive.resolve` accepts."""
    tasks, offset = [], 0
    while batch := store.find(owner, limit=PAGE, offset=offset):
        tasks += batch
        offset += PAGE
    exported = []
    for task in tasks:
        record = {k: v for k, v in asdict(task).items() if k not in ("owner", "own_key", "imported")}
        files = []
        for media in record["media"]:
            media["peaks"] = None  # the importer measures its copies itself
            for name in COPIES:
                path = archive.resolve(media[name], task.owner)
                if path:
                    files.append((path, f"media/{media[name]}"))
                else:
                    media[name] = None
        exported.append((record, files))
    return exported


def plan_parts(sizes: list[int], part_bytes: int, part_tasks: int = PART_TASKS) -> list[range]:
    """Consecutive records, by their sizes, in parts of at most `part_bytes` and `part_tasks` records each; a
    record larger than a part on its own makes a part of its own (a record is never split from its files)."""
    parts, start, size = [], 0, 0
    for number, one in enumerate(sizes):
        if number > start and (size + one > part_bytes or number - start >= part_tasks):
            parts.append(range(start, number))
            start, size = number, 0
        size += one
    return parts + [range(start, len(sizes))] if sizes else [range(0, 0)]


def _size(record: dict, files: list[tuple[Path, str]]) -> int:
    """What a record adds to its part, at most: its JSON uncompressed (history.json is deflated, which leaves room
    for that file's own headers) and its files with their ZIP headers."""
    return len(json.dumps(record)) + sum(path.stat().st_size + MEMBER_OVERHEAD for path, _ in files)


def _write_part(target: BinaryIO, records: list[tuple[dict, list[tuple[Path, str]]]], part: int, parts: int) -> None:
    """One self-contained part: its own history.json listing its records ("part k of n"), and their files."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for _, files in records:
            for path, inside in files:
                bundle.write(path, inside)
        bundle.writestr("history.json", json.dumps({"format": FORMAT, "version": VERSION, "part": part,
                                                    "parts": parts,
                                                    "tasks": [record for record, _ in records]}, indent=1))


def export_zip(store: Store, archive: Archiver, owner: str | None, target: BinaryIO) -> None:
    """Write `owner`'s whole history (everyone's for None: the team library) to `target` as one part."""
    _write_part(target, export_records(store, archive, owner), 1, 1)


class Exports:
    """Finished exports: written to files of their own (never built in memory) and downloaded by signed link
    from the studio's own route, so the server streams them from disk. Old ones are removed as new ones come."""

    def __init__(self, folder: Path, clock=time.time):
        self.folder, self._clock = Path(folder), clock

    def _new(self, owner: str) -> tuple[str, Path]:
        """A new export's name and the .part file it is written to (renamed once complete)."""
        name = f"{owner_dir(owner)}/{uuid.uuid4().hex}.zip"
        target = self.folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return name, target.with_suffix(".part")

    def write(self, store: Store, archive: Archiver, owner: str, scope: str | None) -> list[str]:
        """Export `scope`'s tasks (everyone's for None) for `owner` in parts of up to PART_BYTES, each a ZIP an
        upload can carry and an import takes on its own; the names to link to, in order."""
        self.prune()
        records = export_records(store, archive, scope)
        parts, names = plan_parts([_size(*one) for one in records], PART_BYTES), []
        for number, part in enumerate(parts, start=1):
            name, partial = self._new(owner)
            with partial.open("wb") as file:
                _write_part(file, [records[i] for i in part], number, len(parts))
            partial.replace(self.folder / name)
            names.append(name)
        return names

    def file(self, name: str) -> Path | None:
        """The export `name`, if it is one this class wrote and still has."""
        path = self.folder / name
        if not EXPORT_NAME.fullmatch(name) or not path.is_file() or path.is_symlink():
            return None
        return path

    def write_takes(self, archive: Archiver, owner: str, takes: list[Task]) -> str:
        """A ZIP of the chosen takes' archived results, each under a name a person can read, for `owner` to
        download by the same route as an export; raises ExportError when it would carry more takes or bytes than
        one download may (`selection_problems`)."""
        files = take_files(archive, takes)
        if problems := selection_problems(len(takes), sum(path.stat().st_size for _, path in files)):
            raise ExportError(" ".join(problems))
        self.prune()
        name, partial = self._new(owner)
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as bundle:  # MP3, WAV and MP4 hardly compress
            for inside, path in files:
                bundle.write(path, inside)
        partial.replace(self.folder / name)
        return name

    def prune(self) -> None:
        for path in self.folder.glob("*/*"):
            if path.stat().st_mtime < self._clock() - EXPORT_KEEP_SECONDS:
                path.unlink(missing_ok=True)


class ExportError(StudioError):
    pass


def selection_problems(takes: int, size: int) -> list[str]:
    """Why a download of `takes` chosen takes holding `size` bytes is refused (nothing: it is not)."""
    problems = []
    if takes == 0:
        problems.append("Choose at least one take to download.")
    if takes > MAX_SELECTED_TAKES:
        problems.append(f"Choose at most {MAX_SELECTED_TAKES} takes for one download ({takes} are chosen).")
    if size > MAX_SELECTED_BYTES:
        problems.append(f"The chosen takes hold {size / 2**20:.0f} MB; one download carries at most "
                        f"{MAX_SELECTED_BYTES // 2**20} MB.")
    return problems


def take_files(archive: Archiver, takes: list[Task]) -> list[tuple[str, Path]]:
    """(name inside the ZIP, archived file) for every result the archive holds of `takes`: only files
    `archive.resolve` accepts for each take's owner. Names are numbered, so two takes never collide."""
    files = []
    for number, task in enumerate(takes, start=1):
        for media in task.media:
            if path := archive.resolve(media.archived, task.owner):
                named = download_name(summary(task), media.duration, task.seed, task.provider.value, media.format)
                files.append((f"{number:02d}-{named}", path))
    return files


# ---- validation: pure functions returning every problem ----

def _text(record: dict, name: str, limits: Limits, required: bool = False) -> list[str]:
    value = record.get(name)
    if value is None:
        return [f"{name} is missing"] if required else []
    if not isinstance(value, str):
        return [f"{name} is not text"]
    return [f"{name} is longer than {limits.text_chars} characters"] if len(value) > limits.text_chars else []


def _number(record: dict, name: str, low: float, high: float, integer: bool = False,
            required: bool = False) -> list[str]:
    value = record.get(name)
    if value is None:
        return [f"{name} is missing"] if required else []
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return [f"{name} is not {'a whole number' if integer else 'a number'}"]
    if not low <= value <= high or not math.isfinite(value):  # the range first: a huge int overflows isfinite
        return [f"{name} is not between {low:g} and {high:g}"]
    return []


def _depth(value, limit: int) -> bool:
    """Whether `value` nests no deeper than `limit` lists/objects, iteratively (no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level >= limit:
                return False
            stack += [(child, level + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return True


def _finite(value) -> bool:
    """Whether every number in `value` is finite: Python's JSON reader accepts NaN, Infinity and 1e999."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return True


def media_problems(media, limits: Limits = Limits()) -> list[str]:
    """Every problem of one media entry of an export."""
    if not isinstance(media, dict):
        return ["a media entry is not an object"]
    problems = []
    kind, format = media.get("kind"), media.get("format")
    if kind not in KINDS:
        problems.append("a media kind is not audio or video")
    elif format not in KINDS[kind]:
        problems.append(f"a media format is not one of {', '.join(KINDS[kind])}")
    for name in ("url", "cover_url", "watermarked_url"):
        problems += _text(media, name, limits, required=name == "url")
        value = media.get(name)
        if isinstance(value, str) and value and len(value) <= limits.text_chars and not web_address(value):
            problems.append(f"a media {name} is not a web address")
    problems += _number(media, "duration", 0, 86400)
    for name in COPIES:
        value = media.get(name)
        if value is not None and not is_archive_name(value):
            problems.append("a media file name is not one Cue Studio makes")
    return problems


def record_problems(record, limits: Limits = Limits()) -> list[str]:
    """Every problem of one task record of an export, checked as strictly as a vendor's answer."""
    if not isinstance(record, dict):
        return ["it is not an object"]
    problems = []
    if record.get("endpoint") not in {e.value for e in Endpoint}:
        problems.append("its endpoint is not one Cue Studio knows")
    if record.get("state") not in {s.value for s in State}:
        problems.append("its state is not one Cue Studio knows")
    for name in ("id", "vendor_id", "external_id", "raw_state", "error_code", "error_message", "trace_id"):
        problems += _text(record, name, limits, required=name == "id")
    if isinstance(record.get("id"), str) and not record["id"].strip():
        problems.append("id is empty")
    problems += _number(record, "progress", 0, 100, integer=True)
    problems += _number(record, "credits", 0, 1e9)
    for name in ("created_at", "updated_at", "started_at", "finished_at"):
        problems += _number(record, name, 0, LATEST_TIME, required=name in ("created_at", "updated_at"))
    params = record.get("params")
    if not isinstance(params, dict):
        problems.append("params is not an object")
    elif not _depth(params, limits.params_depth):
        problems.append(f"params nest deeper than {limits.params_depth} levels")
    elif not _finite(params):
        problems.append("params hold a number that is not finite")
    elif len(json.dumps(params)) > limits.params_chars:
        problems.append(f"params are longer than {limits.params_chars} characters")
    elif record.get("endpoint") in SPECS:  # the rules the studio applied when the task was made
        problems += [f"its settings are not valid: {p.message}" for p in SPECS[record["endpoint"]].validator(params)]
    media = record.get("media", [])
    if not isinstance(media, list):
        problems.append("media is not a list")
    elif len(media) > limits.media_per_task:
        problems.append(f"it has more than {limits.media_per_task} media files")
    else:
        for entry in media:
            problems += [p for p in media_problems(entry, limits) if p not in problems]
    if not problems and any(m["kind"] != Endpoint(record["endpoint"]).media_kind
                                                    for m in media):
        problems.append("its media are not of the kind its endpoint makes")
    return problems


def imported_task(record: dict, owner: str) -> Task:
    """The importer's own finished record of a valid export record (see `record_problems`).

    The studio's id is new and stable; media names are the archiver's, set as each file is brought in; a task
    that was still in flight is not followed here (its vendor task may be someone else's).
    """
    state = State(record["state"])
    error_code, error_message = record.get("error_code"), record.get("error_message")
    if not state.terminal:
        state, error_code = State.FAILED, NOT_FOLLOWED
        error_message = ("This task was still running where it was exported, so it is not followed here. "
                         f"Vendor task id: {record.get('vendor_id') or record.get('external_id') or 'none'}, "
                         "for reference.")
    media = tuple(Media(kind=m["kind"], url=m["url"], format=m["format"], duration=m.get("duration"),
                        cover_url=m.get("cover_url") or None, watermarked_url=m.get("watermarked_url") or None)
                  for m in record.get("media", []))
    return Task(endpoint=Endpoint(record["endpoint"]), params=record["params"], id=import_id(owner, record["id"]),
                owner=owner, vendor_id=record.get("vendor_id"), external_id=record.get("external_id"), state=state,
                raw_state=record.get("raw_state") or "", progress=record.get("progress"),
                credits=record.get("credits"), media=media, error_code=error_code, error_message=error_message,
                trace_id=record.get("trace_id"), created_at=float(record["created_at"]),
                updated_at=float(record["updated_at"]), started_at=record.get("started_at"),
                finished_at=record.get("finished_at"), imported=True)


def import_id(owner: str, record_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cue-studio-import/{owner}/{record_id}").hex


# ---- import ----

class _Budget:
    """Bytes an import may still write: in total and under the importer's quota."""

    def __init__(self, limits: Limits, used: int):
        self.limits, self.total, self.quota = limits, limits.total_bytes, limits.owner_bytes - used

    def cap(self) -> tuple[int, str]:
        return min((self.limits.member_bytes, "its media file is larger than an import accepts"),
                   (self.total, "the export's media files together are larger than one import accepts"),
                   (self.quota, "your media would go over your storage quota"))

    def spend(self, size: int) -> None:
        self.total, self.quota = self.total - size, self.quota - size


def _read_document(bundle: zipfile.ZipFile, limits: Limits) -> dict:
    try:
        with bundle.open("history.json") as member:
            data = member.read(limits.document_bytes + 1)
    except KeyError:
        raise ImportProblem("This is not a Cue Studio history export (a ZIP with history.json).") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError):
        raise ImportProblem("This export is damaged: its history.json cannot be read.") from None
    if len(data) > limits.document_bytes:
        raise ImportProblem(f"This export's history.json is larger than {limits.document_bytes // 1024 ** 2} MB, "
                            "more than an import accepts.")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise ImportProblem("This export's history.json is not valid JSON.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportProblem("This is not a Cue Studio history export.")
    if document.get("version") not in (1, VERSION):
        raise ImportProblem("This export comes from another version of Cue Studio.")
    if document["version"] == 1 and isinstance(document.get("tasks"), list):
        document["tasks"] = [{("vendor_id" if k == "task_id" else k): v for k, v in record.items()}
                             if isinstance(record, dict) else record for record in document["tasks"]]
    if not isinstance(document.get("tasks"), list):
        raise ImportProblem("This export holds no list of tasks.")
    if len(document["tasks"]) > limits.tasks:
        raise ImportProblem(f"This export holds more than {limits.tasks} tasks, more than one import accepts.")
    if part_of(document) is None:
        raise ImportProblem("This export's part number is damaged.")
    return document


def part_of(document: dict) -> tuple[int, int] | None:
    """Which part of its export a document is, (k, n): (1, 1) for an export written whole; None when damaged."""
    part, parts = document.get("part", 1), document.get("parts", 1)
    if any(isinstance(n, bool) or not isinstance(n, int) for n in (part, parts)) or not 1 <= part <= parts <= 10_000:
        return None
    return part, parts


def _copy(bundle: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: _Budget) -> str | None:
    """Stream one member to `target` through a .part file, counting real bytes; the problem, or None."""
    cap, over = budget.cap()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    size = 0
    try:
        with bundle.open(member) as source, partial.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > cap:
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):  # RuntimeError: encrypted
        partial.unlink(missing_ok=True)
        return "its media file in the export is damaged"
    except OSError:  # e.g. the disk is full
        partial.unlink(missing_ok=True)
        return "its media file could not be saved on the server"
    if size > cap:
        partial.unlink(missing_ok=True)
        return over
    partial.replace(target)
    budget.spend(size)
    return None


def _bring_media(bundle: zipfile.ZipFile, archive: Archiver, task: Task, record: dict,
                 budget: _Budget) -> tuple[Task, str | None]:
    """`task` with the export's media files copied under new archive names; on a problem nothing is kept."""
    written, saved = [], []
    for number, (media, entry) in enumerate(zip(task.media, record.get("media", [])), start=1):
        copies = {}
        for field_name in COPIES:
            new = copy_name(task.owner, task.id, number, field_name, media.format)
            old = entry.get(field_name)  # validated to the archive's shape: used only to find the member
            try:
                member = bundle.getinfo(f"media/{old}") if old else None
            except KeyError:
                member = None
            if member is None:
                copies[field_name] = None  # the export had no copy; the card says so
                continue
            problem = _copy(bundle, member, archive.path(new), budget)
            if problem:
                for path in written:
                    budget.spend(-path.stat().st_size)
                    path.unlink()
                return task, problem
            written.append(archive.path(new))
            copies[field_name] = new
        saved.append(replace(media, **copies))
    return task.replace(media=tuple(saved)), None


def import_zip(store: Store, archive: Archiver, owner: str, upload: BinaryIO,
               limits: Limits = Limits()) -> ImportReport:
    """Add the valid tasks of an exported ZIP (a file object) to `owner`'s history, as finished records."""
    try:
        # The same end record ZipFile reads next: a directory of millions of tiny members would fill memory.
        end = zipfile._EndRecData(upload)
        if end and end[zipfile._ECD_SIZE] > limits.directory_bytes:
            raise ImportProblem("This export lists more files than an import accepts.")
        bundle = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error):
        raise ImportProblem("This is not a Cue Studio history export (a ZIP with history.json).") from None
    with bundle:
        document = _read_document(bundle, limits)
        report, budget = ImportReport(part=part_of(document)), _Budget(limits, archive.owner_bytes(owner))
        for number, record in enumerate(document["tasks"], start=1):
            problems = record_problems(record, limits)
            if problems:
                report.skipped.append((number, "; ".join(problems[:3])))
                continue
            task = imported_task(record, owner)
            if store.get(task.id) or store.get(record["id"], owner=owner):  # imported before, or one's own
                report.existing += 1
                continue
            task, problem = _bring_media(bundle, archive, task, record, budget)
            if problem:
                report.skipped.append((number, problem))
                continue
            task = archive.measure(task)  # measured here: an export's own numbers are never taken
            store.add(task)
            report.added += 1
    return report
