"""The README's "Several replicas" recipe, run for real: three `streamlit run` studios on one PostgreSQL database
and one shared media folder, with one cookie secret, both vendors "live" at one separately started simulator,
behind Debian's nginx running deploy/nginx.conf.example (sticky sessions, WebSocket upgrades).

A browser works through nginx only. The replica holding its session is killed (SIGKILL) while its task is in
flight: the page reconnects to another replica by itself and shows the result, and the store, the media folder
and the simulator's request log show nothing lost and nothing done twice. A vendor callback sent to a replica
that did not submit the task finishes it. Two replicas of a team instance in demo mode (one shared simulator,
STUDIO_SIM_URL) started at the same instant on an empty database migrate it once, and a person signed in with
the team password on one of them, whose task is in flight when it dies, is still signed in on the other (the
sign-in cookie) and sees that task finish.
"""
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import psycopg
import pytest
import requests
from playwright.sync_api import expect

from lib.core.tasks import State
from lib.service import sessions
from lib.service.poller import FIRST_INTERVAL
from lib.store.base import MIGRATIONS
from lib.store.postgres import PostgresStore
from tests.e2e.conftest import (
    sign_in,
    start_nginx,
    start_simulator,
    start_studio,
    stop,
    upstream_of,
    vendors_at,
    wait_until_idle,
)

WEBHOOK_SECRET = "whsec_cmVwbGljYXRlc3RyZXBsaWNhdGVzdHJlcGxpY2F0ZXM="
COOKIE_SECRET = "one-cookie-secret-for-every-replica"
TEAM_PASSWORD = "tide-pool-lantern"
PROMPT = "Waves on a pebble beach"
CALLBACK_PROMPT = "A squeaky door opening"
TEAM_PROMPT = "Rain on a tin roof"
VIDU_QUERY, KLING_QUERY = "/ent/v2/tasks/", "/v1/audio/text-to-audio"  # the vendors' status queries (GET)
# seconds between two status queries of one task at the vendor, whichever replicas ask: the shortest interval,
# counted from the vendor's answer to the one before, so however late a query arrives the next is later still
MIN_QUERY_GAP = FIRST_INTERVAL


def wait_for(check, timeout: float, what):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.2)
    return value


def fresh_database() -> str:
    """A new, empty database on the test run's PostgreSQL (./test.sh starts one); its address."""
    base = os.environ.get("STUDIO_TEST_DATABASE_URL") or pytest.fail("run ./test.sh: it starts a PostgreSQL")
    name = f"replicas_{uuid.uuid4().hex}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(os.environ["STUDIO_TEST_DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def replica_env(simulator_url: str) -> dict:
    return {**vendors_at(simulator_url), "STREAMLIT_SERVER_COOKIE_SECRET": COOKIE_SECRET,
            "KLING_WEBHOOK_SECRET": WEBHOOK_SECRET}


def start_together(count: int, folder: Path, env: dict) -> dict:
    """`count` studios on one data folder (the media and the link-signing secret), started at the same instant;
    by address (host:port). If one does not start, the others are stopped."""
    together = threading.Barrier(count)

    def start(number: int):
        together.wait()
        return start_studio(folder / "data", folder / f"replica{number}.log", env)

    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start, number) for number in range(count)]
    failed = [future.exception() for future in futures if future.exception()]
    if failed:
        for future in futures:
            if not future.exception():
                stop(future.result()[0])
        raise failed[0]
    return {urlsplit(url).netloc: process for process, url in (future.result() for future in futures)}


def holder(page, folder: Path) -> str:
    """The replica (host:port) that the nginx in `folder` sends this browser's requests to."""
    (key,) = [c["value"] for c in page.context.cookies() if c["name"] == "cue_replica"]
    return upstream_of(folder / "access.log", key)


class Replicas:
    """`count` replicas with `env`, on a fresh database and one data folder, started at the same instant behind
    their own nginx; and a store of the test's own on that database."""

    def __init__(self, folder: Path, count: int, env: dict):
        self.folder = folder
        self.database_url = fresh_database()
        try:
            self.replicas = start_together(count, folder, {**env, "STUDIO_DATABASE_URL": self.database_url})
        except BaseException:
            drop_database(self.database_url)
            raise
        self.nginx, self.url = start_nginx(list(self.replicas), folder / "nginx")
        self.store = PostgresStore(self.database_url, pool_size=2)

    def holder(self, page) -> str:
        return holder(page, self.folder / "nginx")

    def close(self) -> None:
        self.store.close()
        stop(self.nginx)
        for process in self.replicas.values():
            stop(process)
        drop_database(self.database_url)


class Deployment(Replicas):
    """Three replicas with both vendors live at one simulator, behind nginx."""

    def __init__(self, folder: Path):
        self.simulator, self.simulator_url = start_simulator(folder / "sim.log", "--speed", "1.5",
                                                             "--kling-webhook-secret", WEBHOOK_SECRET)
        try:
            super().__init__(folder, 3, replica_env(self.simulator_url))
        except BaseException:
            stop(self.simulator)
            raise

    def requests_log(self) -> list[dict]:
        return requests.get(f"{self.simulator_url}/_sim/requests", timeout=5).json()

    def close(self) -> None:
        super().close()
        stop(self.simulator)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployed = Deployment(tmp_path_factory.mktemp("replicas"))
    yield deployed
    deployed.close()


def settled(store: PostgresStore, prompt: str):
    """The one task made with `prompt`, once it has ended and its copy is made; None before."""
    tasks = [t for t in store.find("local") if t.params.get("prompt") == prompt]
    assert len(tasks) <= 1, tasks  # nothing created twice in the store either
    return tasks[0] if tasks and tasks[0].state.terminal and not tasks[0].copying else None


def test_killing_the_replica_holding_a_session_loses_nothing_and_repeats_nothing(deployment, page):
    page.goto(deployment.url)  # the default page: Sound from text
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(PROMPT)
    page.locator(".st-key-t2a_submit button").click()
    task = wait_for(lambda: next((t for t in deployment.store.find("local")
                                  if t.params.get("prompt") == PROMPT and t.vendor_id), None), 30,
                    lambda: deployment.store.find("local"))
    first = deployment.holder(page)
    assert not task.state.terminal, "the task should still be in flight when its replica is killed"

    killed = deployment.replicas[first]
    killed.send_signal(signal.SIGKILL)
    killed.wait()

    # Streamlit's page reconnects by itself; nginx sends it to a live replica, which shows the task finish.
    card = page.locator("[class*='st-key-task_']").filter(has_text=PROMPT)
    audio = card.locator("audio")
    expect(audio).to_have_count(1, timeout=90_000)
    assert deployment.holder(page) != first
    source = urljoin(deployment.url + "/", audio.get_attribute("src"))
    answer = requests.get(source, timeout=10)  # a signed link made by one replica, served through nginx
    assert answer.ok and answer.headers["Content-Type"].startswith("audio/"), answer.status_code

    done = wait_for(lambda: settled(deployment.store, PROMPT), 60, lambda: deployment.store.find("local"))
    assert done.id == task.id and done.state is State.SUCCEEDED, done
    media = deployment.folder / "data" / "media"
    assert all(m.archived and (media / m.archived).stat().st_size > 1000 for m in done.media), done.media
    archived = [p for p in media.rglob(f"*{done.id}*") if p.suffix in (".mp3", ".wav", ".mp4")]
    assert len(archived) == len(done.media) == 1, archived  # archived once

    log = deployment.requests_log()
    creates = [r for r in log if r["method"] == "POST" and r["path"].startswith("/ent/v2/text2audio")]
    assert len(creates) == 1, creates  # created once
    queries = sorted(r["time"] for r in log if r["method"] == "GET" and r["path"].startswith(VIDU_QUERY)
                     and task.vendor_id in r["path"])
    assert queries, "the replicas should have polled the task"
    gaps = [later - earlier for earlier, later in pairwise(queries)]
    assert all(gap >= MIN_QUERY_GAP for gap in gaps), gaps  # one query per interval, across replicas


def test_a_callback_to_a_replica_that_did_not_submit_the_task_finishes_it(deployment, page):
    rule = {"match": KLING_QUERY, "method": "GET", "status": 503}  # polling learns nothing: only the callback can
    requests.post(f"{deployment.simulator_url}/_sim/faults", json=rule, timeout=5).raise_for_status()
    try:
        page.goto(f"{deployment.url}/kling")
        wait_until_idle(page)
        submitter = deployment.holder(page)
        other = next(address for address, process in deployment.replicas.items()
                     if address != submitter and process.poll() is None)
        page.get_by_text("For developers").click()
        page.locator(".st-key-kt2a_callback_url input").fill(f"http://{other}/callbacks/kling")
        page.locator(".st-key-kt2a_prompt textarea").fill(CALLBACK_PROMPT)
        page.locator(".st-key-kt2a_submit button").click()
        done = wait_for(lambda: settled(deployment.store, CALLBACK_PROMPT), 60,
                        lambda: deployment.store.find("local"))
        assert done.state is State.SUCCEEDED and done.params["callback_url"] == f"http://{other}/callbacks/kling"
        media = deployment.folder / "data" / "media"
        assert done.media and all(m.archived and (media / m.archived).stat().st_size > 1000 for m in done.media)
        polls = [r for r in deployment.requests_log() if r["method"] == "GET" and KLING_QUERY in r["path"]
                 and done.vendor_id in r["path"]]
        assert polls, "polling stayed on (and every answer it got was the 503 above)"
        assert deployment.holder(page) == submitter  # the session stayed on its replica all along
    finally:
        requests.delete(f"{deployment.simulator_url}/_sim/faults", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def hosted_pair(tmp_path_factory, deployment):
    # two replicas of a team instance (a team password) in demo mode, sharing one simulator (STUDIO_SIM_URL)
    pair = Replicas(tmp_path_factory.mktemp("hosted"), 2, {"STREAMLIT_SERVER_COOKIE_SECRET": COOKIE_SECRET,
                                                           "STUDIO_PASSWORD": TEAM_PASSWORD,
                                                           "STUDIO_SIM_URL": deployment.simulator_url})
    yield pair
    pair.close()


def test_two_replicas_starting_at_the_same_instant_migrate_an_empty_database_once(hosted_pair):
    with psycopg.connect(hosted_pair.database_url) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    for number in range(2):
        text = (hosted_pair.folder / f"replica{number}.log").read_text()
        assert "Traceback" not in text and "error" not in text.lower(), text


def test_after_a_failover_a_signed_in_person_is_still_signed_in_and_sees_their_task_finish(hosted_pair, page):
    """The sign-in is a cookie signed with the secret the replicas share, so the other replica honours it."""
    sign_in(page, hosted_pair.url, "Ann Lee", TEAM_PASSWORD)
    wait_for(lambda: any(c["name"] == sessions.COOKIE for c in page.context.cookies()), 30,
             "the browser never got its sign-in cookie")
    page.locator(".st-key-t2a_prompt textarea").fill(TEAM_PROMPT)
    page.locator(".st-key-t2a_submit button").click()
    wait_for(lambda: any(t.vendor_id for t in hosted_pair.store.find(None)), 30,
             lambda: hosted_pair.store.find(None))
    first = hosted_pair.holder(page)
    hosted_pair.replicas[first].send_signal(signal.SIGKILL)
    hosted_pair.replicas[first].wait()
    # the page reconnects by itself, through nginx, to the other replica
    wait_for(lambda: hosted_pair.holder(page) != first, 60, "the page never reconnected")
    wait_until_idle(page, timeout=60_000)
    expect(page.get_by_text("Signed in as Ann Lee")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("textbox", name="Your name")).to_have_count(0)
    card = page.locator("[class*='st-key-task_']").filter(has_text=TEAM_PROMPT)
    expect(card.locator("audio")).to_have_count(1, timeout=90_000)
    (task,) = hosted_pair.store.find(None)
    assert task.state is State.SUCCEEDED and task.owner == "Ann Lee", task
