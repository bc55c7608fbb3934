"""The fault matrix: the studio's own logic (submit, the poller, the archiver) against each simulator fault.

One row per fault. For each the test checks what a person would see (the task's final state and its plain
`error_message`), that the task is still in the store, and that the create request was sent at most once.
The README's Reliability section shows the same table in words.
"""
from __future__ import annotations

import contextlib
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from lib.core.tasks import Endpoint, State
from lib.media.archive import Archiver
from lib.service import studio
from lib.service.poller import Poller
from lib.sim import DEMO_KLING_ACCESS_KEY, DEMO_KLING_SECRET_KEY, DEMO_VIDU_KEY, start
from lib.store.sqlite import Store
from lib.vendors import vidu
from lib.vendors.kling import KlingClient
from lib.vendors.transport import Transport
from lib.vendors.vidu import ViduClient
from tests.fakes import settled
from tests.test_clients_sim import assert_plain

SPEED = 100
OWNER = "ann"
VIDU, KLING = "vidu", "kling"
CREATE, POLL = "create", "poll"
SUCCEEDED, FAILED, SUBMITTED, CANCELLED = State.SUCCEEDED, State.FAILED, State.SUBMITTED, State.CANCELLED
REQUESTS = {VIDU: (Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": "Rain on a tin roof", "duration": 2}),
            KLING: (Endpoint.KLING_TEXT2AUDIO, {"prompt": "Fireworks over the harbour", "duration": 3})}
# Where a fault rule applies: (path it must contain, method) for the create request and for the polls.
PATHS = {(VIDU, CREATE): ("/ent/v2/text2audio", "POST"), (VIDU, POLL): ("/ent/v2/tasks/", "GET"),
         (KLING, CREATE): ("/v1/audio/text-to-audio", "POST"), (KLING, POLL): ("/v1/audio/text-to-audio", "GET")}
CREATE_PATHS = {path for (_, step), (path, _) in PATHS.items() if step == CREATE}
OUTAGE_POLLS = 3  # polls made while the vendor cannot be reached, in the "refused during polling" rows
UNKNOWN = studio.OUTCOME_UNKNOWN
NO_COPY = "The result is ready, but no copy could be kept: "


@dataclass(frozen=True)
class Case:
    fault: str  # what goes wrong, in the words of the README's Reliability section
    vendor: str
    state: State  # the task's final state
    sees: str | None  # words in its error_message, i.e. what the person sees; None: no message at all
    at: str | None = None  # CREATE or POLL: where `rule` (and `refused`) apply
    rule: dict | None = None  # a simulator fault rule; `match` and `method` come from `at`
    marker: str = ""  # added to the prompt, e.g. "[fail:ModelUnavailable]"
    creates: int = 1  # create requests the simulator must have received
    archived: bool | None = None  # whether our own copy was kept; default: succeeded without a message
    refused: bool = False  # the vendor's port is closed (for the create, or for the first polls)
    read_timeout: float = 5.0
    credits: int | None = None  # the vendor's balance before submitting
    clock_skew: float = 0.0  # how far our clock is from Kling's, in seconds
    twice: bool = False  # the same request submitted twice in a row
    restart: bool = False  # the studio restarts (new Store and started Poller) while the task runs
    url_ttl: float | None = None  # media links expire this fast, and the archive runs only after they have
    archive_seconds: float = 300  # the archiver's time limit per file

    @property
    def id(self) -> str:
        words = re.sub(r"[^a-z0-9]+", "-", self.fault.lower()).strip("-")
        return "-".join(filter(None, (self.vendor, self.at, words)))

    @property
    def keeps_copy(self) -> bool:
        return self.archived if self.archived is not None else self.state is SUCCEEDED and self.sees is None


def both(fault: str, at: str, state: State, sees: dict | str | None, **knobs) -> list[Case]:
    """The same fault for Vidu and Kling; `sees` may differ per vendor ({VIDU: ..., KLING: ...})."""
    return [Case(fault, vendor, state, sees[vendor] if isinstance(sees, dict) else sees, at, **knobs)
            for vendor in (VIDU, KLING)]


TOO_MANY = {VIDU: "Too many requests to Vidu in a short time. Wait a moment and try again.",
            KLING: "Too many requests to Kling in a short time. Wait a moment and try again."}
CASES = [
    *both("nothing goes wrong", None, SUCCEEDED, None),
    # -- the vendor says no, or a proxy answers for it ---------------------------------------------------------
    *both("429 with Retry-After", CREATE, FAILED, TOO_MANY, rule={"status": 429, "retry_after": 2}),
    *both("429 with Retry-After", POLL, SUCCEEDED, None, rule={"status": 429, "retry_after": 2, "times": 2}),
    *both("429 without Retry-After", CREATE, FAILED, TOO_MANY, rule={"status": 429}),
    *both("429 without Retry-After", POLL, SUCCEEDED, None, rule={"status": 429, "times": 2}),
    *both("HTTP 500", CREATE, FAILED, {VIDU: "Vidu had an internal problem. Try again later.",
                                        KLING: "Kling had an internal problem. Try again later."},
          rule={"status": 500}),
    # A gateway's 502 or 504 may hide a task the vendor did make: kept as "outcome unknown", never as failed.
    *both("HTTP 502", CREATE, SUBMITTED, UNKNOWN, rule={"status": 502}),
    *both("HTTP 503", CREATE, FAILED, {VIDU: "Vidu is temporarily unavailable (HTTP 503). Try again later.",
                                        KLING: "Kling is temporarily unavailable, usually for maintenance."},
          rule={"status": 503}),
    *both("HTTP 504", CREATE, SUBMITTED, UNKNOWN, rule={"status": 504}),
    # Six failing answers in a row: the poller backs off across six polls (one attempt each), then gets through.
    *(case for status in (500, 502, 503, 504)
      for case in both(f"HTTP {status}", POLL, SUCCEEDED, None, rule={"status": status, "times": 6})),
    *both("HTML error page from a proxy", CREATE, SUBMITTED, UNKNOWN, rule={"body": "html", "status": 502}),
    *both("HTML error page from a proxy", POLL, SUCCEEDED, None, rule={"body": "html", "status": 502, "times": 6}),
    *both("malformed JSON", POLL, SUCCEEDED, None, rule={"body": "malformed", "times": 1}),
    # -- the network ---------------------------------------------------------------------------------------------
    *both("connection refused", CREATE, FAILED, "Could not connect to 127.0.0.1, so nothing was sent.",
          refused=True, creates=0),
    *both("connection refused", POLL, SUCCEEDED, None, refused=True),
    *both("connection reset", CREATE, SUBMITTED, UNKNOWN, rule={"drop": True}),
    *both("connection reset", POLL, SUCCEEDED, None, rule={"drop": True, "times": 2}),
    *both("read timeout", POLL, SUCCEEDED, None, rule={"delay": 0.8, "times": 1}, read_timeout=0.3),
    # The vendor made the task but its answer was lost. Vidu's create answer is the only place its task id
    # appears, so the task waits for the person to check; Kling's is found by the external id the studio chose.
    *(Case(fault, vendor, state, sees, CREATE, rule, read_timeout=0.3)
      for fault, rule in (("read timeout", {"delay": 0.8, "times": 1}), ("malformed JSON", {"body": "malformed"}))
      for vendor, state, sees in ((VIDU, SUBMITTED, UNKNOWN), (KLING, SUCCEEDED, None))),
    # -- the task fails at the vendor ----------------------------------------------------------------------------
    *(Case(f"task fails with {code}", VIDU, CANCELLED if code == "UserCancelled" else FAILED,
           vidu.describe_failure(code), marker=f"[fail:{code}]")
      for code in ("CreationPolicyViolation", "TaskPromptPolicyViolation", "AuditSubmitIllegal", "ModelUnavailable",
                   "InternalServiceFailure", "UserCancelled")),
    Case("task fails", KLING, FAILED, "Kling could not finish the task: Audio generation failed",
         marker="[fail:Audio generation failed]"),
    Case("error code inside HTTP 200", KLING, FAILED, "Your Kling account is already running as many tasks",
         CREATE, {"kling_code_in_200": 1303}),
    Case("error code inside HTTP 200", KLING, SUCCEEDED, None, POLL, {"kling_code_in_200": 1302, "times": 1}),
    Case("credits run out", VIDU, FAILED, "Your Vidu account has run out of credits.", credits=0),
    Case("credits run out", KLING, FAILED, "Your Kling resource pack is used up or has expired.", credits=0),
    # -- keeping a copy of the result ----------------------------------------------------------------------------
    *both("media link expired before the download", None, SUCCEEDED,
          NO_COPY + "The vendor's link to the result has expired.", url_ttl=0.01),
    *both("slow media download", None, SUCCEEDED, NO_COPY + "The result took too long to download.",
          rule={"match": "/_sim/media/", "delay": 1.0}, archive_seconds=0.3),
    # -- the studio itself ---------------------------------------------------------------------------------------
    *both("double submit", None, SUCCEEDED, None, twice=True),
    *both("studio restarted while polling", None, SUCCEEDED, None, restart=True),
    Case("our clock 1 h ahead of Kling's", KLING, FAILED,
         "Kling says the access token is not valid yet. Check that this computer's clock is right.",
         clock_skew=3600),
    Case("our clock 1 h behind Kling's", KLING, FAILED,
         "Kling says the access token has expired. Check that this computer's clock is right.", clock_skew=-3600),
]


# --- the studio, wired to a simulator ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_sim():
    simulator = start(speed=SPEED)
    yield simulator
    simulator.stop()


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


class Studio:
    """What lib.ui.runtime builds per server process, on `folder`, with the vendors at `url`."""

    def __init__(self, case: Case, folder, url: str, media_url: str, waits: list):
        sleep = waits.append  # retries are counted, not waited for
        vidu_client = ViduClient(DEMO_VIDU_KEY, base_url=url, transport=Transport(
            vendor="Vidu", read_timeout=case.read_timeout, sleep=sleep))
        kling_client = KlingClient(DEMO_KLING_ACCESS_KEY, DEMO_KLING_SECRET_KEY, base_url=url,
                                   clock=lambda: time.time() + case.clock_skew, transport=Transport(
                                       vendor="Kling", read_timeout=case.read_timeout, sleep=sleep))
        self.vendors = studio.Vendors(vidu_client, kling_client, vidu_live=False, kling_live=False)
        self.store = Store(folder / "studio.db")
        self.archiver = Archiver(folder / "media", Transport(vendor="The media server", sleep=sleep),
                                 max_seconds=case.archive_seconds, trusted=(media_url,))
        on_success = archive_after_expiry(self.archiver.archive) if case.url_ttl else self.archiver.archive
        self.poller = Poller(self.store, self.vendors, on_success=on_success, tick=0.05)
        self.planned: list[float] = []  # seconds from then to each next poll the poller planned
        schedule = self.store.schedule

        def planning(vendor_id, next_poll_at, *args, **kwargs):
            self.planned.append(next_poll_at - time.time())
            schedule(vendor_id, next_poll_at, *args, **kwargs)
        self.store.schedule = planning


def archive_after_expiry(archive):
    """`archive`, but only once every media link of the task has expired (the studio was busy, or down)."""
    def late(task):
        expires = max(int(parse_qs(urlsplit(m.url).query)["Expires"][0]) for m in task.media)
        time.sleep(max(0.0, expires + 0.05 - time.time()))
        return archive(task)
    return late


def follow(studio_: Studio, vendor_id: str, seconds: float):
    """Poll the task as the poller would until it ends or `seconds` pass; the task as stored."""
    deadline = time.monotonic() + seconds
    task = studio_.store.get(vendor_id)
    while not task.state.terminal and time.monotonic() < deadline:
        studio_.poller.poll(task)
        time.sleep(0.02)
        task = studio_.store.get(vendor_id)
    return settled(studio_.store, vendor_id)  # a success's copy is made in the background


def wait_for_end(store: Store, vendor_id: str, seconds: float):
    deadline = time.monotonic() + seconds
    while not store.get(vendor_id).state.terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    return settled(store, vendor_id)


# --- the one test ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault(case, shared_sim, closed_url, tmp_path):
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(start(speed=SPEED, url_ttl=case.url_ttl)) if case.url_ttl else shared_sim
        sim.reset()
        if case.credits is not None:
            sim.set_credits(**{case.vendor: case.credits})
        if case.rule:
            where = dict(zip(("match", "method"), PATHS[case.vendor, case.at])) if case.at else {}
            sim.add_fault(**where, **case.rule)
        waits: list[float] = []
        live = Studio(case, tmp_path, sim.url, sim.url, waits)
        endpoint, body = REQUESTS[case.vendor]
        body = {**body, "prompt": f"{body['prompt']} {case.marker}".strip()}

        first = Studio(case, tmp_path, closed_url, sim.url, waits) if case.refused and case.at == CREATE else live
        task, new = studio.submit(first.store, first.vendors, endpoint, body, OWNER, token="form-1")
        assert new
        if case.twice:  # a double click: a second rerun carrying the same submission token
            again, new = studio.submit(live.store, live.vendors, endpoint, body, OWNER, token="form-1")
            assert (again.id, new) == (task.id, False)

        if case.refused and case.at == POLL:
            outage = Studio(case, tmp_path, closed_url, sim.url, waits)
            for _ in range(OUTAGE_POLLS):
                outage.poller.poll(outage.store.get(task.id))
            during = live.store.get(task.id)
            assert not during.state.terminal and during.error_message is None  # kept, and nothing alarming

        if case.restart:
            live.poller.poll(live.store.get(task.id))
            # The studio process goes away; its database file stays, and a new process opens it.
            live = Studio(case, tmp_path, sim.url, sim.url, waits)
            assert task.id in [t.id for t in live.store.in_flight()]
            live.poller.start()
            stack.callback(live.poller.stop)
            final = wait_for_end(live.store, task.id, 15)
        else:
            final = follow(live, task.id, 15 if case.state.terminal else 0.6)

        # What the person sees.
        assert final.state is case.state, final.error_message
        if case.sees is None:
            assert final.error_message is None
        else:
            assert case.sees in final.error_message
            assert_plain(final.error_message)
        # The task is kept, once.
        assert Store(tmp_path / "studio.db").get(task.id) == final
        assert live.store.count(OWNER) == 1
        # Our own copy of the result, when there is one to keep.
        if case.keeps_copy:
            assert final.media and all(m.archived and live.archiver.path(m.archived).stat().st_size > 1000
                                       for m in final.media)
        else:
            assert not any(m.archived for m in final.media)
        # The create request went out at most once.
        sent = [r for r in sim.requests if r.method == "POST" and r.path in CREATE_PATHS]
        assert len(sent) == case.creates <= 1
        if case.rule and "retry_after" in case.rule and case.at == POLL:
            # The vendor's Retry-After was honoured: the next poll was planned that far ahead, not slept out.
            assert any(abs(delay - case.rule["retry_after"]) < 0.5 for delay in live.planned), live.planned
