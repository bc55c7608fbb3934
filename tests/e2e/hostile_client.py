"""A Streamlit client that sends what no browser would: forged widget values over `/_stcore/stream`.

It speaks the same protocol as the frontend (binary protobuf BackMsg / ForwardMsg on one WebSocket, the
"streamlit" subprotocol; the XSRF token only matters for sign-in cookies, which demo mode does not use), reads
widget ids from the deltas of a normal run, and reruns the script with chosen WidgetStates.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.sync.client import connect

WAIT_SECONDS = 120  # one script run on a busy machine; a run that never finishes fails the test


@dataclass
class Run:
    """What one script run sent back: every element, the widgets by id, and how the run ended."""

    elements: list = field(default_factory=list)  # (element type, element proto)
    status: int | None = None

    def widget_id(self, user_key: str) -> str:
        """The id of the widget created with `key=user_key` (Streamlit ids end in "-<key>")."""
        for _, element in self.elements:
            widget = getattr(element, element.WhichOneof("type"))
            if getattr(widget, "id", "").endswith(f"-{user_key}"):
                return widget.id
        raise LookupError(f"no widget with key {user_key!r} in this run")

    def texts(self, *kinds: str) -> list[str]:
        """The text of alerts, Markdown, captions, toasts and exceptions (or only of `kinds`)."""
        found = []
        for kind, element in self.elements:
            if kinds and kind not in kinds:
                continue
            widget = getattr(element, kind)
            if kind in ("alert", "toast", "markdown", "text"):
                found.append(widget.body)
            elif kind == "exception":
                found.append(f"{widget.type}: {widget.message}")
        return found

    @property
    def exceptions(self) -> list[str]:
        return self.texts("exception")

    @property
    def finished(self) -> bool:
        return self.status == ForwardMsg.FINISHED_SUCCESSFULLY


class HostileClient:
    """One browser-less session. `run(page, states)` reruns `page` with the given widget states."""

    def __init__(self, url: str):
        self.address = url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.origin = url
        self.known: dict[str, WidgetState] = {}  # the last value sent per widget, sent again on every rerun

    def __enter__(self) -> HostileClient:
        self._connection = connect(self.address, subprotocols=["streamlit"], max_size=None, open_timeout=30,
                                   origin=self.origin)
        self.socket = self._connection.__enter__()
        return self

    def __exit__(self, *details) -> None:
        self._connection.__exit__(*details)

    def run(self, page: str, states: list[WidgetState] = ()) -> Run:
        """Rerun the script on `page` (its url_path; "" for the default page) with `states` on top of the values
        sent before."""
        for state in states:
            self.known[state.id] = state
        message = BackMsg()
        message.rerun_script.page_name = page
        message.rerun_script.widget_states.widgets.extend(self.known.values())
        self.socket.send(message.SerializeToString())
        run = Run()
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(self.socket.recv(timeout=WAIT_SECONDS))
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                run.elements.append((element.WhichOneof("type"), element))
            elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                run.status = forward.script_finished
                return run


def number(widget_id: str, value: float) -> WidgetState:
    return WidgetState(id=widget_id, double_value=value)


def numbers(widget_id: str, values: list[float]) -> WidgetState:
    state = WidgetState(id=widget_id)
    state.double_array_value.data.extend(values)
    return state


def editor(widget_id: str, added_rows: list[dict] = (), edited_rows: dict | None = None,
           deleted_rows: list[int] = ()) -> WidgetState:
    """A data_editor's edits as the frontend sends them: JSON text (which Python reads NaN/Infinity from)."""
    edits = {"edited_rows": edited_rows or {}, "added_rows": list(added_rows), "deleted_rows": list(deleted_rows)}
    return WidgetState(id=widget_id, string_value=json.dumps(edits, allow_nan=True))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
