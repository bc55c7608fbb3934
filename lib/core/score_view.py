"""How a score reads on the Score page: the videos to choose from, the plan said before Generate, where each
part stands, and the downloads' names. Plain functions, no Streamlit."""
from __future__ import annotations

from lib.core.score import Part, Score, ScoreState
from lib.core.tasks import Endpoint, State, Task
from lib.media.archive import score_name
from lib.media.naming import download_name

LABEL_CHARS = 60  # of a video's prompt in the list to choose from
PART_WORDS = {State.SUBMITTED: "waiting", State.QUEUED: "waiting", State.RUNNING: "running",
              State.SUCCEEDED: "done", State.FAILED: "failed", State.CANCELLED: "cancelled"}


def seconds(value: float) -> str:
    """7.5 -> "7.5", 16.0 -> "16": a time as people write it, to a tenth of a second."""
    return f"{round(float(value), 1):g}"


def span(start: float, end: float) -> str:
    return f"{seconds(start)}–{seconds(end)} s"


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def scorable(task: Task) -> bool:
    """A finished video of the history that the studio has its own copy of (only that copy can be scored)."""
    return (task.endpoint is Endpoint.VIDU_TEXT2VIDEO and task.state is State.SUCCEEDED
            and any(media.kind == "video" and media.archived for media in task.media))


def video_label(task: Task) -> str:
    """"A fox runs through snow · 8 s": what a history video is called in the list to choose from."""
    prompt = " ".join(str(task.params.get("prompt") or "").split()) or "A video without a prompt"
    short = prompt if len(prompt) <= LABEL_CHARS else prompt[:LABEL_CHARS - 1].rstrip() + "…"
    duration = next((media.duration for media in task.media if media.kind == "video" and media.duration), None)
    return f"{short} · {seconds(duration)} s" if duration else short


def plan_note(spans: list[tuple[float, float]], music: bool, takes: int, requests: int, cost: str) -> str:
    """"2 requests: 0–8.5 s and 7.5–16 s · 60 credits": what Generate sends, said before it is pressed.

    `spans` are the effects requests' windows on the video's time axis (lib.core.score.plan), `requests` and
    `cost` the estimate for every take together."""
    windows = [span(start, end) for start, end in spans]
    what = _joined(windows) if windows else ""
    if music:
        what = f"sound effects for {what}, and the music bed" if windows else "the music bed"
    count = f"{requests} request{'s' if requests != 1 else ''}"
    if takes > 1:
        count += f" ({requests // takes} for each of {takes} takes)"
    return f"{count}: {what} · {cost}"


def part_line(part: Part, task: Task | None) -> str:
    """"Sound effects, 0–8.5 s: running": which stretch of the video a part covers and where it stands."""
    where = "Music bed, the whole video" if part.role == "music" else f"Sound effects, {span(part.start, part.end)}"
    state = PART_WORDS[task.state] if task is not None else "waiting"
    if task is not None and task.state is State.SUCCEEDED and task.copying:
        state = "done, being kept"
    return f"{where}: {state}"


def state_line(score: Score, tasks: list[Task]) -> str:
    """Where a whole score stands, in a few words."""
    if score.state is ScoreState.GENERATING:
        done = sum(1 for task in tasks if task.state is State.SUCCEEDED)
        return f"Generating: {done} of {len(score.parts)} parts done"
    if score.state is ScoreState.MIXING:
        return "Mixing the new mix…" if score.mixed_version else "Mixing…"
    return "Done" if score.state is ScoreState.DONE else "Failed"


def download_names(score: Score) -> dict[str, str]:
    """Names for people of a score's downloads, per format: the MP4, the WAV of the score alone, the receipt."""
    mix = f"-mix{score.mixed_version}" if score.mixed_version > 1 else ""

    def named(format: str, what: str) -> str:
        return download_name(score.source.label, score.source.duration, score.seed, "vidu", format, what + mix)

    return {"mp4": named("mp4", "scored"), "wav": named("wav", "score"), "txt": named("txt", "receipt")}


def receipt_name(score: Score) -> str | None:
    """The archive name of the receipt written with the mix the score's files hold; None before the first."""
    return score_name(score.owner, score.id, score.mixed_version, "receipt") if score.mixed_version else None
