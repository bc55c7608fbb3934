"""How a task reads in the history: labels, timings, estimates. Plain functions, no Streamlit."""
from __future__ import annotations

import re
import time

from lib.core import endpoints
from lib.core.endpoints import spec
from lib.core.tasks import Endpoint, Provider, State, Task
from lib.vendors import kling, vidu

STATE_LABELS = {
    State.SUBMITTED: ("Submitting", "gray"),
    State.QUEUED: ("Queued", "blue"),
    State.RUNNING: ("Generating", "orange"),
    State.SUCCEEDED: ("Done", "green"),
    State.FAILED: ("Failed", "red"),
    State.CANCELLED: ("Cancelled", "gray"),
}
DIALECTS = {Provider.VIDU: vidu.DIALECT, Provider.KLING: kling.DIALECT}


def state_label(task: Task) -> tuple[str, str]:
    """(label, colour) of the task's badge; a state word the studio does not know yet is shown as the vendor
    says it, since the task is still being followed."""
    dialect = DIALECTS[task.provider]
    if not task.state.terminal and task.raw_state and not dialect.knows(task.raw_state):
        word = re.sub(r"[^\w .-]", "", task.raw_state).replace("_", " ")[:40]  # inside Markdown: letters only
        return f"{dialect.name} says: {word}", "violet"
    return STATE_LABELS[task.state]


def error_words(task: Task) -> str:
    """A vendor's error code in plain words, for a task stored with the code only (an import, an older row)."""
    dialect = DIALECTS[task.provider]
    return dialect.messages.get(task.error_code or "") or (
        f"{dialect.name} stopped this task and gave only a code for it: {task.error_code}.")


def estimated_cost(task: Task) -> str | None:
    """What the request should cost by the published prices ("35 credits"), or None if it cannot be told."""
    return endpoints.cost(task.endpoint, task.params)


def not_found_message(task: Task) -> str:
    """What to look for in the vendor's console when a create went unanswered and the task list has no match."""
    when = time.strftime("%d %b %Y %H:%M UTC", time.gmtime(task.created_at))
    prompt = summary(task)
    cost = estimated_cost(task)
    return (f"{DIALECTS[task.provider].name} never confirmed this request and its task list shows no task matching "
            f"it. It may still have been created, and charged: before trying again, look in the vendor's console for "
            f"a “{spec(task.endpoint).label}” task created around {when} with the prompt "
            f"“{prompt[:120]}{'…' * (len(prompt) > 120)}”" + (f" (estimated cost {cost})." if cost else "."))


def seconds(value: float) -> str:
    value = max(0, round(value))
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


def timings(task: Task, now: float) -> str:
    """"Queued 3 s · processing 5 s": time waiting at the vendor, then time being generated."""
    started = task.started_at or (None if task.state in (State.SUBMITTED, State.QUEUED) else task.updated_at)
    queued_until = started or task.finished_at or now
    parts = [f"queued {seconds(queued_until - task.created_at)}"]
    if started:
        parts.append(f"processing {seconds((task.finished_at or now) - started)}")
    return " · ".join(parts).capitalize()


def seconds_left(task: Task, now: float) -> float:
    """How long the vendor should still need: from its progress while it reports some, else from the endpoint's
    typical duration (the poller's near-the-end polling uses the same figure)."""
    if task.state is State.RUNNING and task.started_at and task.progress:
        return (now - task.started_at) * (100 - task.progress) / task.progress
    return spec(task.endpoint).typical_seconds - (now - (task.started_at or now))


def summary(task: Task) -> str:
    """The one-line description of what was asked for."""
    params = task.params
    if task.endpoint is Endpoint.VIDU_TIMING2AUDIO:
        events = params.get("timing_prompts") or []
        return f"{len(events)} timed event{'s' * (len(events) != 1)}: " + "; ".join(
            str(e.get("prompt", "")) for e in events if isinstance(e, dict))
    return str(params.get("prompt", ""))


def details(task: Task, seed: bool = True) -> str:
    """The settings besides the prompt, e.g. "viduq2 · 5 s · 720p · 16:9"; without the seed for a group, whose
    takes each show their own."""
    params = task.params
    parts = [params.get("model"), f"{params['duration']} s" if "duration" in params else None,
             params.get("resolution"), params.get("aspect_ratio"),
             f"seed {params['seed']}" if seed and params.get("seed") else None]
    return " · ".join(str(p) for p in parts if p)


# ---- takes: a group of tasks from one request ----

def group_key(task: Task) -> str:
    """What the takes of one request share; a task without a group (older rows) is a group of one."""
    return task.group_id or task.id


def reuse_source(takes: list[Task]) -> Task:
    """The take whose settings "Use these settings again" fills in: the kept one, else the first that
    succeeded, else the first."""
    return next((t for t in takes if t.verdict == "kept"), None) or next(
        (t for t in takes if t.state is State.SUCCEEDED), takes[0])


def take_label(task: Task, takes: list[Task]) -> str:
    """"Take 2", or the vendor's name in a group that compares vendors."""
    if len({t.provider for t in takes}) > 1:
        return DIALECTS[task.provider].name
    return f"Take {takes.index(task) + 1}"


def loudness(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f} LUFS".replace("-", "−")


def take_facts(task: Task) -> str:
    """"seed 1234 · 10 s · −23.1 LUFS": what tells one take from another."""
    media = task.media[0] if task.media else None
    duration = media.duration if media and media.duration else task.params.get("duration")
    parts = [f"seed {task.seed}" if task.seed is not None else None,
             f"{duration:g} s" if isinstance(duration, (int, float)) else None,
             loudness(media.loudness) if media else None]
    return " · ".join(p for p in parts if p)


def choice_marks(task: Task) -> str:
    """The person's choices as a short Markdown mark: "★ Kept"."""
    marks = ((":orange[★]", task.starred), (":green-badge[Kept]", task.verdict == "kept"),
             (":gray-badge[Rejected]", task.verdict == "rejected"), (":gray-badge[Hidden]", task.hidden))
    return " ".join(mark for mark, on in marks if on)
