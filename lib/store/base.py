"""The history: every task in the database on the server, from the moment it is submitted.

Pages, the poller and the callback routes all go through a store. Its queries are written once here, for both
backends (lib/store/sqlite.py, lib/store/postgres.py): each backend gives connections (`?` placeholders, rows
read by name or position), transactions, and the few words where the two dialects differ. The schema is
versioned and migrated on start.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict, fields, replace

from lib.core.score import Mix, Part, Score, ScoreState, Source
from lib.core.tasks import IN_FLIGHT, Endpoint, Media, Provider, State, Task

# Each entry migrates the schema from version N to N+1; append, never edit.
MIGRATIONS = [
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        params TEXT NOT NULL,
        task_id TEXT,
        external_id TEXT,
        state TEXT NOT NULL,
        raw_state TEXT NOT NULL DEFAULT '',
        progress INTEGER,
        credits REAL,
        media TEXT NOT NULL DEFAULT '[]',
        error_code TEXT,
        error_message TEXT,
        trace_id TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        request_key TEXT,
        next_poll_at REAL NOT NULL DEFAULT 0,
        poll_interval REAL NOT NULL DEFAULT 1,
        poll_deadline REAL
    );
    CREATE INDEX tasks_owner_created ON tasks (owner, created_at DESC);
    CREATE INDEX tasks_in_flight ON tasks (state, next_poll_at);
    CREATE INDEX tasks_request_key ON tasks (owner, request_key);
    """,
    # 2: tasks sent with a key the person pasted for themselves (polled only while the server holds it)
    "ALTER TABLE tasks ADD COLUMN own_key INTEGER NOT NULL DEFAULT 0;",
    # 3: vendor callbacks: look tasks up by the vendor's ids, and remember Vidu's nonces so replays are refused
    """
    CREATE INDEX tasks_task_id ON tasks (task_id);
    CREATE INDEX tasks_external_id ON tasks (external_id);
    CREATE TABLE callback_nonces (nonce TEXT PRIMARY KEY, seen_at REAL NOT NULL);
    CREATE INDEX callback_nonces_seen ON callback_nonces (seen_at);
    """,
    # 4: tasks brought in by a history import: records only, never polled nor matched by a callback
    "ALTER TABLE tasks ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;",
    # 5: the vendor's id is `vendor_id` everywhere (the studio's own is `id`)
    """
    ALTER TABLE tasks RENAME COLUMN task_id TO vendor_id;
    DROP INDEX tasks_task_id;
    CREATE INDEX tasks_vendor_id ON tasks (vendor_id);
    """,
    # 6: takes (a group of tasks from one request), the seed, and the person's choices on each take
    """
    ALTER TABLE tasks ADD COLUMN group_id TEXT;
    ALTER TABLE tasks ADD COLUMN seed INTEGER;
    ALTER TABLE tasks ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
    ALTER TABLE tasks ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tasks_group ON tasks (group_id);
    """,
    # 7: the parts of a score (lib.core.score) name it; they are shown with their score, not in the library
    """
    ALTER TABLE tasks ADD COLUMN score_id TEXT;
    CREATE INDEX tasks_score ON tasks (score_id);
    """,
    # 8: scores (lib.core.score): the mix numbers and the state in columns, the rest of the record as JSON
    """
    CREATE TABLE scores (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        group_id TEXT,
        request_key TEXT,
        state TEXT NOT NULL,
        mix_version INTEGER NOT NULL DEFAULT 1,
        mixed_version INTEGER NOT NULL DEFAULT 0,
        body TEXT NOT NULL,
        error_message TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX scores_owner_created ON scores (owner, created_at DESC);
    CREATE INDEX scores_state ON scores (state);
    CREATE INDEX scores_request_key ON scores (owner, request_key);
    """,
    # 9: replicas share the work: a copy and a mix are leased to one process at a time, and a person's pasted
    # own key is recorded as pasted (never the key), with the process holding it in memory until when
    """
    ALTER TABLE tasks ADD COLUMN copy_lease_until REAL NOT NULL DEFAULT 0;
    ALTER TABLE scores ADD COLUMN mix_lease_until REAL NOT NULL DEFAULT 0;
    CREATE TABLE pasted_keys (
        owner TEXT NOT NULL,
        provider TEXT NOT NULL,
        holder TEXT NOT NULL,
        held_until REAL NOT NULL,
        PRIMARY KEY (owner, provider)
    );
    """,
    # 10: what a person has typed on a form and not yet sent (lib.core.drafts), kept across a browser refresh
    """
    CREATE TABLE drafts (
        owner TEXT NOT NULL,
        form TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (owner, form)
    );
    """,
]
TASK_COLUMNS = [f.name for f in fields(Task)]
# The person's choices on a take: set only by `Store.choose`, so a poll saving a task it read earlier never
# undoes a choice made meanwhile.
CHOICES = ("verdict", "starred", "hidden")
VERDICTS = ("", "kept", "rejected")
FLAGS = ("own_key", "imported", "starred", "hidden")
GROUP = "COALESCE(group_id, id)"  # a task without a group (older rows, single takes) is a group of one
MAX_SEARCH_CHARS = 200
NEVER_LEASED = float("inf")  # `copies_pending` without a time: every copy still to be made, leased or not
SCORE_COLUMNS = ("id", "owner", "group_id", "state", "mix_version", "mixed_version", "error_message", "created_at",
                 "updated_at")  # the rest of a score is its JSON body


def _to_row(task: Task) -> dict:
    row = {name: getattr(task, name) for name in TASK_COLUMNS}
    row["params"] = json.dumps(task.params)
    row["media"] = json.dumps([asdict(m) for m in task.media])
    row["endpoint"], row["state"] = task.endpoint.value, task.state.value
    for flag in FLAGS:  # stored as integers: SQLite has no booleans, and PostgreSQL's do not mix with integers
        row[flag] = int(row[flag])
    return row


def _insert(db, table: str, row: dict) -> None:
    db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _to_task(row) -> Task:
    values = {name: row[name] for name in TASK_COLUMNS}
    values["params"] = json.loads(values["params"])
    values["media"] = tuple(Media(**m) for m in json.loads(values["media"]))
    values["endpoint"], values["state"] = Endpoint(values["endpoint"]), State(values["state"])
    for flag in FLAGS:
        values[flag] = bool(values[flag])
    return Task(**values)


def _score_row(score: Score) -> dict:
    body = {"source": asdict(score.source), "events": list(score.events), "music_prompt": score.music_prompt,
            "parts": [asdict(part) for part in score.parts], "mix": asdict(score.mix), "seed": score.seed,
            "video": score.video, "sound": score.sound, "peaks": score.peaks, "receipt": score.receipt,
            "receipt_file": score.receipt_file}
    row = {name: getattr(score, name) for name in SCORE_COLUMNS}
    return row | {"state": score.state.value, "body": json.dumps(body)}


def _to_score(row) -> Score:
    body = json.loads(row["body"])
    return Score(source=Source(**body["source"]), events=tuple(body["events"]), music_prompt=body["music_prompt"],
                 parts=tuple(Part(**part) for part in body["parts"]), mix=Mix(**body["mix"]), seed=body["seed"],
                 video=body["video"], sound=body["sound"], peaks=body["peaks"], receipt=body["receipt"],
                 receipt_file=body["receipt_file"],
                 **{name: row[name] for name in SCORE_COLUMNS if name != "state"}, state=ScoreState(row["state"]))


def _by_id(table: str, row_id: str, owner: str | None) -> tuple[str, list]:
    """The query of one row of `table` by its id, and `owner`'s only unless None (the team library)."""
    query, args = f"SELECT * FROM {table} WHERE id = ?", [row_id]
    if owner is not None:
        query, args = query + " AND owner = ?", args + [owner]
    return query, args


class BaseStore:
    """Every query of the store; a backend subclass gives the connections and the dialect's few words."""
    UNINDEXED = ""  # put before a column to keep the planner off its index (SQLite: "+")
    FOR_UPDATE = ""  # after a SELECT in a transaction that then writes the rows it read (PostgreSQL locks them)
    SKIP_LOCKED = ""  # after the subquery picking rows to claim (PostgreSQL: skip rows another worker holds)
    # `params` (JSON text) has a prompt, or a timed event's prompt (`timing_prompts`), LIKE the pattern twice given
    PROMPT_LIKE = ""
    IntegrityError: type[Exception] = Exception  # what the driver raises when a write breaks a key or constraint

    def _connect(self) -> AbstractContextManager:
        """A connection that runs each statement on its own: `execute(sql, args)` with `?` placeholders."""
        raise NotImplementedError

    def _transaction(self, lock: str | None = None) -> AbstractContextManager:
        """A connection inside one transaction, committed at the end (rolled back on an error); writers taking the
        same `lock` name wait for each other, so a read then a write in it is never raced by a twin."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the connections (a no-op where each call opens its own)."""

    def add(self, task: Task, request_key: str | None = None) -> tuple[Task, bool]:
        """Insert one task (a group of one: see `add_group`); the stored task and whether it is new."""
        tasks, new = self.add_group([task], request_key)
        return tasks[0], new

    def add_group(self, tasks: list[Task], request_key: str | None = None) -> tuple[list[Task], bool]:
        """Insert `tasks` (the takes of one submission, same owner) unless that owner already stored tasks under
        `request_key` (the form's submission token): then those, oldest first, and False.

        The check and the inserts are one transaction, so two reruns racing with the same token make one group.
        """
        owner = tasks[0].owner
        with self._transaction(f"tasks {owner} {request_key}" if request_key else None) as db:
            if request_key:
                twins = db.execute("SELECT * FROM tasks WHERE owner = ? AND request_key = ? ORDER BY created_at, rowid",
                                   (owner, request_key)).fetchall()
                if twins:
                    return [_to_task(twin) for twin in twins], False
            for task in tasks:
                _insert(db, "tasks", _to_row(task) | {"request_key": request_key})
        return list(tasks), True

    def group_of(self, owner: str, request_key: str) -> list[Task]:
        """The tasks `owner` stored under a submission token, oldest first (none: the token is unused)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM tasks WHERE owner = ? AND request_key = ? AND score_id IS NULL"
                              " ORDER BY created_at, rowid", (owner, request_key)).fetchall()
        return [_to_task(row) for row in rows]

    def month_tasks(self, owner: str, since: float) -> list[Task]:
        """`owner`'s own tasks (imports are records, not spending) created since `since`, for the budget."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM tasks WHERE owner = ? AND created_at >= ? AND imported = 0",
                              (owner, since)).fetchall()
        return [_to_task(row) for row in rows]

    def save(self, task: Task) -> None:
        """Write every field of an existing task (the task's own id is the key) but the person's CHOICES."""
        self._update(task, "")

    def save_unfinished(self, task: Task) -> bool:
        """`save`, only while the stored task is still in flight; False when it has already ended. The check is
        the UPDATE itself, so a poll, a callback or a cancel answered on another replica never undoes an end."""
        return self._update(task, f" AND state IN ({', '.join('?' * len(IN_FLIGHT))})", [*IN_FLIGHT]) == 1

    def _update(self, task: Task, condition: str, args: list = ()) -> int:
        row = {name: value for name, value in _to_row(task).items() if name not in CHOICES and name != "id"}
        assignments = ", ".join(f"{name} = ?" for name in row)
        with self._connect() as db:
            return db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?{condition}",
                              [*row.values(), task.id, *args]).rowcount

    def choose(self, studio_id: str, owner: str | None, *, verdict: str | None = None,
               starred: bool | None = None, hidden: bool | None = None) -> bool:
        """Record a person's choice on a take (None leaves that choice as it is); `owner` None: anyone's (the
        team library). False when no such task is theirs."""
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        changes = {name: value for name, value in (("verdict", verdict), ("starred", starred),
                                                   ("hidden", hidden)) if value is not None}
        if not changes:
            return self.get(studio_id, owner) is not None
        query = f"UPDATE tasks SET {', '.join(f'{name} = ?' for name in changes)} WHERE id = ?"
        args = [*(int(v) if isinstance(v, bool) else v for v in changes.values()), studio_id]
        if owner is not None:
            query, args = query + " AND owner = ?", args + [owner]
        with self._connect() as db:
            return db.execute(query, args).rowcount == 1

    def get(self, studio_id: str, owner: str | None = None) -> Task | None:
        query, args = _by_id("tasks", studio_id, owner)
        with self._connect() as db:
            row = db.execute(query, args).fetchone()
        return _to_task(row) if row else None

    def find_by_vendor_id(self, provider: Provider, vendor_id: str | None,
                          external_id: str | None = None) -> Task | None:
        """The task a vendor names in a callback: by the vendor's task id, else by our external id (Kling's
        `external_task_id`, known before the create answer is); the newest one if several match."""
        marks = [e.value for e in Endpoint if e.provider is provider]
        where = f"endpoint IN ({', '.join('?' * len(marks))}) AND imported = 0"  # an import names no vendor task
        with self._connect() as db:
            for column, value in (("vendor_id", vendor_id), ("external_id", external_id)):
                if value:
                    row = db.execute(f"SELECT * FROM tasks WHERE {column} = ? AND {where}"
                                     " ORDER BY created_at DESC LIMIT 1", [str(value), *marks]).fetchone()
                    if row:
                        return _to_task(row)
        return None

    def use_nonce(self, nonce: str, now: float, keep_seconds: float = 600) -> bool:
        """Record a callback nonce; False when it was already used within `keep_seconds` (a replay).

        Kept in the database, so a replay after a restart is refused too; older nonces are pruned here.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM callback_nonces WHERE seen_at < ?", (now - keep_seconds,))
            return db.execute("INSERT INTO callback_nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                              (nonce, now)).rowcount == 1

    def find(self, owner: str | None, *, endpoints=(), states=(), limit: int = 20, offset: int = 0) -> list[Task]:
        where, args = self._filters(owner, endpoints, states)
        with self._connect() as db:
            return self._page(db, where, args, limit, offset)

    def count(self, owner: str | None, *, endpoints=(), states=()) -> int:
        where, args = self._filters(owner, endpoints, states)
        with self._connect() as db:
            return self._count(db, where, args)

    def find_counted(self, owner: str | None, *, endpoints=(), states=(), limit: int = 20,
                     offset: int = 0) -> tuple[list[Task], int]:
        """One page of `find` plus the `count` of all matches, over one connection. An `owner` of None, here and
        in `find` and `count`, means everyone's tasks (the team library)."""
        where, args = self._filters(owner, endpoints, states)
        with self._connect() as db:
            total = self._count(db, where, args)
            return (self._page(db, where, args, limit, offset) if total > offset else []), total

    @staticmethod
    def _page(db, where: str, args: list, limit: int, offset: int) -> list[Task]:
        rows = db.execute(f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC LIMIT ? OFFSET ?",
                          args + [limit, offset]).fetchall()
        return [_to_task(row) for row in rows]

    @staticmethod
    def _count(db, where: str, args: list) -> int:
        return db.execute(f"SELECT COUNT(*) FROM tasks WHERE {where}", args).fetchone()[0]

    @staticmethod
    def _filters(owner: str | None, endpoints, states) -> tuple[str, list]:
        clauses, args = (["TRUE"], []) if owner is None else (["owner = ?"], [owner])
        for column, values in (("endpoint", endpoints), ("state", states)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args += [str(v) for v in values]
        return " AND ".join(clauses), args

    def in_flight(self, owner: str | None = None, endpoints=()) -> list[Task]:
        """In-flight tasks (a score's parts apart: the score shows them), oldest first: everyone's, or `owner`'s,
        optionally of some endpoints only.

        Read through the in-flight index (UNINDEXED keeps SQLite off the owner index), so the cost follows the
        number of tasks in flight, not the length of the history.
        """
        query = f"SELECT * FROM tasks WHERE state IN ({', '.join('?' * len(IN_FLIGHT))}) AND score_id IS NULL"
        args = [*IN_FLIGHT]
        if owner is not None:
            query, args = query + f" AND {self.UNINDEXED}owner = ?", args + [owner]
        if endpoints:
            query += f" AND endpoint IN ({', '.join('?' * len(endpoints))})"
            args += endpoints
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at", [str(a) for a in args]).fetchall()
        return [_to_task(row) for row in rows]

    def due(self, now: float) -> list[Task]:
        """In-flight tasks whose next poll is due, oldest first."""
        marks = ", ".join("?" * len(IN_FLIGHT))
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM tasks WHERE state IN ({marks}) AND next_poll_at <= ? AND imported = 0"
                              " ORDER BY next_poll_at", [s.value for s in IN_FLIGHT] + [now]).fetchall()
        return [_to_task(row) for row in rows]

    def schedule(self, studio_id: str, next_poll_at: float, poll_interval: float,
                 poll_deadline: float | None = None, lease: float | None = None) -> bool:
        """Plan the next poll; a `poll_deadline` (None keeps the current one) is when polling gives up. With `lease`
        (the end of the poll lease the caller set, see `claim_due`), only while the task still has that lease: once
        another process has claimed the task, it is that process's to plan. Whether it was planned."""
        held, args = ("", []) if lease is None else (" AND next_poll_at = ?", [lease])
        with self._connect() as db:
            return db.execute("UPDATE tasks SET next_poll_at = ?, poll_interval = ?,"
                              f" poll_deadline = COALESCE(?, poll_deadline) WHERE id = ?{held}",
                              [next_poll_at, poll_interval, poll_deadline, studio_id, *args]).rowcount == 1

    def poll_plan(self, studio_id: str) -> tuple[float, float | None]:
        """(current interval, deadline or None) for a task's polling."""
        with self._connect() as db:
            row = db.execute("SELECT poll_interval, poll_deadline FROM tasks WHERE id = ?", (studio_id,)).fetchone()
        return (row[0], row[1]) if row else (1.0, None)

    def lease(self, studio_id: str, now: float, until: float) -> bool:
        """Claim a task that is due at `now` for polling, by moving its next poll to `until`, so it is not handed
        out again meanwhile (the poll then plans the real next poll; a worker that died lets the lease run out).
        False when it is no longer due: another poll has just planned its next one."""
        with self._connect() as db:
            return db.execute("UPDATE tasks SET next_poll_at = ? WHERE id = ? AND next_poll_at <= ?",
                              (until, studio_id, now)).rowcount == 1

    def claim_due(self, now: float, lease_until: float, limit: int, endpoints=(), holder: str | None = None
                  ) -> list[Task]:
        """Lease up to `limit` due tasks (of `endpoints` only, when given; the longest overdue first) in one
        statement, and return them, oldest first. Each process's worker claims its own and no two ever get the
        same task: PostgreSQL skips rows another worker is claiming, SQLite has one writer at a time. A lease that
        runs out lets the task be claimed again (see `lease`). With `holder` (the calling process), a task sent
        with its owner's own key is left to the process holding that key, while one does (`hold_keys`)."""
        where, args = f"state IN ({', '.join('?' * len(IN_FLIGHT))}) AND next_poll_at <= ? AND imported = 0", [
            *(s.value for s in IN_FLIGHT), now]
        if endpoints:
            where += f" AND endpoint IN ({', '.join('?' * len(endpoints))})"
            args += [str(e) for e in endpoints]
        if holder is not None:
            providers = sorted({Endpoint(e).provider.value for e in endpoints} or {p.value for p in Provider})
            where += (" AND (own_key = 0 OR NOT EXISTS (SELECT 1 FROM pasted_keys WHERE pasted_keys.owner ="
                      f" tasks.owner AND provider IN ({', '.join('?' * len(providers))}) AND held_until > ?"
                      " AND holder <> ?))")
            args += [*providers, now, holder]
        with self._transaction() as db:
            rows = db.execute(f"UPDATE tasks SET next_poll_at = ? WHERE id IN (SELECT id FROM tasks WHERE {where}"
                              f" ORDER BY next_poll_at LIMIT ?{self.SKIP_LOCKED}) RETURNING *",
                              [lease_until, *args, limit]).fetchall()
        return sorted(map(_to_task, rows), key=lambda task: task.created_at)

    def copies_pending(self, now: float = NEVER_LEASED) -> list[Task]:
        """Successes whose result is still being copied (`Task.copying`), e.g. when the last process stopped; with
        `now`, only those no process holds the copy lease of (see `claim_copy`)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM tasks WHERE state = ? AND error_message IS NULL AND media LIKE ?"
                              " AND copy_lease_until <= ?",
                              (State.SUCCEEDED.value, '%"archived": null%', now)).fetchall()
        return [task for task in map(_to_task, rows) if task.copying]

    def claim_copy(self, studio_id: str, now: float, until: float) -> bool:
        """Lease the copy of a success to the calling process until `until`: True for exactly one of the processes
        asking while no lease runs (one conditional UPDATE), so a result is archived once; a process that dies
        lets the lease run out and another takes the copy over."""
        with self._connect() as db:
            return db.execute("UPDATE tasks SET copy_lease_until = ? WHERE id = ? AND copy_lease_until <= ?",
                              (until, studio_id, now)).rowcount == 1

    def renew_polls(self, leases: dict[str, float], until: float) -> list[str]:
        """Extend the poll leases this process holds (task id -> the lease's end it set) to `until`, each only
        while the task still has that lease (a poll that ended meanwhile planned its real next poll); the ids
        renewed."""
        renewed = []
        if not leases:
            return renewed
        with self._transaction() as db:  # one commit for them all
            for studio_id, lease in leases.items():
                if db.execute("UPDATE tasks SET next_poll_at = ? WHERE id = ? AND next_poll_at = ?",
                              (until, studio_id, lease)).rowcount == 1:
                    renewed.append(studio_id)
        return renewed

    def renew_copies(self, ids: Iterable[str], until: float) -> None:
        """Extend the copy leases of `ids` (held by this process, copies still running) to `until`."""
        if ids := list(ids):
            with self._connect() as db:
                db.execute(f"UPDATE tasks SET copy_lease_until = ? WHERE id IN ({', '.join('?' * len(ids))})",
                           [until, *ids])

    # ---- the library: History's groups of takes, search, choices as filters, deleting ----

    def library(self, owner: str | None, *, search: str = "", kept: bool = False, starred: bool = False,
                show_hidden: bool = False, endpoints=(), states=(), skip_groups=(), limit: int = 10,
                offset: int = 0) -> tuple[list[list[Task]], int]:
        """One page of groups of takes (a task without a group is a group of one), newest group first, each with
        its matching takes oldest first, plus how many groups match in all. Only the page's groups are read.

        `search` matches the prompt, or any timed event's prompt, as typed (`%` and `_` are not wildcards);
        `skip_groups` leaves out groups shown elsewhere (the live panel's)."""
        where, args = self._filters(owner, endpoints, states)
        clauses = [where, "score_id IS NULL"]  # a score's parts are shown with their score
        if text := search.strip()[:MAX_SEARCH_CHARS]:
            pattern = "%" + "".join("\\" + c if c in "\\%_" else c for c in text) + "%"
            clauses.append(self.PROMPT_LIKE)
            args += [pattern, pattern]
        clauses += [clause for clause, on in (("verdict = 'kept'", kept), ("starred = 1", starred),
                                              ("hidden = 0", not show_hidden)) if on]
        if skip_groups:
            clauses.append(f"{GROUP} NOT IN ({', '.join('?' * len(skip_groups))})")
            args += list(skip_groups)
        where = " AND ".join(clauses)
        with self._connect() as db:
            # One pass for the page of groups and the count of all (a window over the grouped rows); then the
            # page's takes by the group index and the primary key.
            page = db.execute(f"SELECT {GROUP} AS take_group, COUNT(*) OVER () FROM tasks WHERE {where}"
                              " GROUP BY take_group ORDER BY MAX(created_at) DESC LIMIT ? OFFSET ?",
                              args + [limit, offset]).fetchall()
            groups = [row[0] for row in page]
            if not groups:
                total = 0 if offset == 0 else db.execute(f"SELECT COUNT(DISTINCT {GROUP}) FROM tasks WHERE {where}",
                                                         args).fetchone()[0]
                return [], total
            total, marks = page[0][1], ", ".join("?" * len(groups))
            rows = db.execute(f"SELECT * FROM tasks WHERE rowid IN (SELECT rowid FROM tasks WHERE group_id IN"
                              f" ({marks}) UNION ALL SELECT rowid FROM tasks WHERE id IN ({marks})) AND {where}"
                              " ORDER BY created_at", groups + groups + args).fetchall()
        return self._grouped(groups, rows), total

    def takes(self, groups, owner: str | None = None) -> list[list[Task]]:
        """Every take of each group key in `groups` (a group id, or the id of a task without a group), in that
        order, oldest take first; `owner` None: anyone's."""
        if not groups:
            return []
        marks = ", ".join("?" * len(groups))
        query = f"SELECT * FROM tasks WHERE (group_id IN ({marks}) OR id IN ({marks})) AND score_id IS NULL"
        args = [*groups, *groups]
        if owner is not None:
            query, args = query + " AND owner = ?", args + [owner]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return self._grouped(groups, rows)

    @staticmethod
    def _grouped(groups, rows) -> list[list[Task]]:
        """`rows` as lists of takes in the order of the group keys in `groups`; none left empty."""
        found: dict[str, list[Task]] = {group: [] for group in groups}
        for task in map(_to_task, rows):
            if (group := task.group_id or task.id) in found:
                found[group].append(task)
        return [takes for takes in found.values() if takes]

    def running_count(self, owner: str) -> int:
        """How many of `owner`'s tasks are in flight: read through the in-flight index, so it costs the same
        however long the history is."""
        with self._connect() as db:
            return db.execute(f"SELECT COUNT(*) FROM tasks WHERE state IN ({', '.join('?' * len(IN_FLIGHT))})"
                              f" AND {self.UNINDEXED}owner = ?", [s.value for s in IN_FLIGHT] + [owner]).fetchone()[0]

    def delete(self, studio_id: str, owner: str | None) -> Task | None:
        """Remove a finished task of `owner` (None: anyone's, the team library) and return it, so its archived
        files can be removed too; None when no such finished task is theirs."""
        query, args = (f"DELETE FROM tasks WHERE id = ? AND state NOT IN ({', '.join('?' * len(IN_FLIGHT))})",
                       [studio_id, *(s.value for s in IN_FLIGHT)])
        if owner is not None:
            query, args = query + " AND owner = ?", args + [owner]
        with self._connect() as db:
            row = db.execute(query + " RETURNING *", args).fetchone()
        return _to_task(row) if row else None

    # ---- scores (lib.core.score): a record of their own, whose parts are tasks naming them ----

    def add_score(self, scores: list[Score], parts: list[Task], request_key: str | None = None
                  ) -> tuple[list[Score], bool]:
        """Insert `scores` (the takes of one submission, same owner) and every part task of them, in one
        transaction, unless that owner already stored scores under `request_key`: then those, oldest first, and
        False (a double click makes one set, and nothing is sent twice)."""
        owner = scores[0].owner
        with self._transaction(f"scores {owner} {request_key}" if request_key else None) as db:
            if request_key:
                twins = db.execute("SELECT * FROM scores WHERE owner = ? AND request_key = ?"
                                   " ORDER BY created_at, rowid", (owner, request_key)).fetchall()
                if twins:
                    return [_to_score(twin) for twin in twins], False
            for score in scores:
                _insert(db, "scores", _score_row(score) | {"request_key": request_key})
            for task in parts:
                _insert(db, "tasks", _to_row(task))
        return list(scores), True

    def scores_of(self, owner: str, request_key: str) -> list[Score]:
        """The scores `owner` stored under a submission token, oldest first (none: the token is unused)."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM scores WHERE owner = ? AND request_key = ? ORDER BY created_at, rowid",
                              (owner, request_key)).fetchall()
        return [_to_score(row) for row in rows]

    def get_score(self, score_id: str, owner: str | None = None) -> Score | None:
        query, args = _by_id("scores", score_id, owner)
        with self._connect() as db:
            row = db.execute(query, args).fetchone()
        return _to_score(row) if row else None

    def recent_scores(self, owner: str | None, limit: int = 10) -> list[Score]:
        """`owner`'s newest scores first (None: everyone's, the team library)."""
        query, args = "SELECT * FROM scores", []
        if owner is not None:
            query, args = query + " WHERE owner = ?", [owner]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC, rowid DESC LIMIT ?", args + [limit]).fetchall()
        return [_to_score(row) for row in rows]

    def scores_in(self, *states: ScoreState, unleased_at: float = NEVER_LEASED) -> list[Score]:
        """Everyone's scores in `states`, oldest first (the worker's steps); with `unleased_at`, only those whose
        mix no process holds the lease of then (see `claim_mix`)."""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM scores WHERE state IN ({', '.join('?' * len(states))})"
                              " AND mix_lease_until <= ? ORDER BY created_at",
                              [*(state.value for state in states), unleased_at]).fetchall()
        return [_to_score(row) for row in rows]

    def claim_mix(self, score_id: str, now: float, until: float) -> bool:
        """Lease the mix of a score to the calling process until `until`: True for exactly one process while no
        lease runs, so a mix is rendered once; a process that dies lets it run out and another renders it."""
        with self._connect() as db:
            return db.execute("UPDATE scores SET mix_lease_until = ? WHERE id = ? AND mix_lease_until <= ?",
                              (until, score_id, now)).rowcount == 1

    def release_mix(self, score_id: str) -> None:
        """The mix is rendered (or failed): a re-mix asked for next may be claimed at once, by any process."""
        with self._connect() as db:
            db.execute("UPDATE scores SET mix_lease_until = 0 WHERE id = ?", (score_id,))

    def renew_mixes(self, ids: Iterable[str], until: float) -> None:
        """Extend the mix leases of `ids` (held by this process, mixes still rendering) to `until`."""
        if ids := list(ids):
            with self._connect() as db:
                db.execute(f"UPDATE scores SET mix_lease_until = ? WHERE id IN ({', '.join('?' * len(ids))})",
                           [until, *ids])

    # ---- own keys pasted: which process holds a person's key in memory (the key itself is never stored) ----

    def hold_keys(self, holder: str, keys: Iterable[tuple[str, Provider]], until: float) -> None:
        """Record that process `holder` holds these (owner, vendor) keys in memory until `until` (renewed while it
        runs), so another process can tell a key pasted and lost with its process from one never pasted."""
        with self._connect() as db:
            for owner, provider in keys:
                db.execute("INSERT INTO pasted_keys (owner, provider, holder, held_until) VALUES (?, ?, ?, ?)"
                           " ON CONFLICT (owner, provider) DO UPDATE SET holder = excluded.holder,"
                           " held_until = excluded.held_until", (owner, provider.value, holder, until))

    def key_holder(self, owner: str, provider: Provider, now: float) -> str | None:
        """The process holding `owner`'s pasted key for `provider` at `now`; "" when one was pasted but the process
        holding it has stopped (or forgotten it); None when none was ever pasted."""
        with self._connect() as db:
            row = db.execute("SELECT holder, held_until FROM pasted_keys WHERE owner = ? AND provider = ?",
                             (owner, provider.value)).fetchone()
        if row is None:
            return None
        return row[0] if row[1] > now else ""

    def drop_key(self, holder: str, owner: str, provider: Provider) -> None:
        """The person stopped using the key `holder` held: as if never pasted (nothing lost to tell them of)."""
        with self._connect() as db:
            db.execute("DELETE FROM pasted_keys WHERE owner = ? AND provider = ? AND holder = ?",
                       (owner, provider.value, holder))

    def score_parts(self, score_id: str) -> list[Task]:
        """The part tasks of a score, in the order they were recorded."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM tasks WHERE score_id = ? ORDER BY created_at, rowid",
                              (score_id,)).fetchall()
        return [_to_task(row) for row in rows]

    def move_score(self, score_id: str, state: ScoreState, *, was: ScoreState,
                   error_message: str | None = None) -> bool:
        """Set a score's state when it is still `was` (so a step never undoes a change made meanwhile)."""
        with self._connect() as db:
            return db.execute("UPDATE scores SET state = ?, error_message = ?, updated_at = ? WHERE id = ?"
                              " AND state = ?", (state.value, error_message, time.time(), score_id,
                                                 was.value)).rowcount == 1

    def remix_score(self, score_id: str, owner: str | None, mix: Mix) -> Score | None:
        """Ask for a new mix of `owner`'s score (None: anyone's, the team library): its mix, the next mix number and
        MIXING, at once (a score still generating keeps generating and takes the new mix when it is first mixed).
        None: no such score of theirs."""
        query, args = _by_id("scores", score_id, owner)
        with self._transaction() as db:
            row = db.execute(query + self.FOR_UPDATE, args).fetchone()
            if row is None:
                return None
            score = _to_score(row)
            generating = score.state is ScoreState.GENERATING
            score = replace(score, mix=mix, updated_at=time.time(), mix_version=score.mix_version + (not generating),
                            state=score.state if generating else ScoreState.MIXING,
                            error_message=score.error_message if generating else None)
            row = _score_row(score)
            db.execute(f"UPDATE scores SET {', '.join(f'{name} = ?' for name in row)} WHERE id = ?",
                       [*row.values(), score_id])
        return score

    def mixed(self, score_id: str, version: int, *, video: str, sound: str, peaks: str, receipt: dict,
              receipt_file: str) -> Score | None:
        """Record that mix `version`'s files are written: DONE, unless a later mix was asked for meanwhile (it then
        stays MIXING for that one). None when a later mix is already recorded, or the score is gone."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM scores WHERE id = ? AND mixed_version < ?" + self.FOR_UPDATE,
                             (score_id, version)).fetchone()
            if row is None:
                return None
            score = _to_score(row)
            latest = score.mix_version == version
            score = replace(score, mixed_version=version, video=video, sound=sound, peaks=peaks, receipt=receipt,
                            receipt_file=receipt_file, updated_at=time.time(),
                            state=ScoreState.DONE if latest else score.state, error_message=None)
            row = _score_row(score)
            db.execute(f"UPDATE scores SET {', '.join(f'{name} = ?' for name in row)} WHERE id = ?",
                       [*row.values(), score_id])
        return score

    # ---- drafts: a form's typed values, one per person and form (bounded and checked in lib.core.drafts) ----

    def save_draft(self, owner: str, form: str, body: str, now: float) -> None:
        """Keep `body` (encoded JSON) as `owner`'s draft of `form`, replacing the one before."""
        with self._connect() as db:
            db.execute("INSERT INTO drafts (owner, form, body, updated_at) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (owner, form) DO UPDATE SET body = excluded.body,"
                       " updated_at = excluded.updated_at", (owner, form, body, now))

    def draft(self, owner: str, form: str) -> str | None:
        """`owner`'s draft of `form` as stored (untrusted: decode it with lib.core.drafts), or None."""
        with self._connect() as db:
            row = db.execute("SELECT body FROM drafts WHERE owner = ? AND form = ?", (owner, form)).fetchone()
        return None if row is None else row[0]

    def clear_draft(self, owner: str, form: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM drafts WHERE owner = ? AND form = ?", (owner, form))
