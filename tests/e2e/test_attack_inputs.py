"""Attacks on what comes in, against a running studio: forged widget values over the websocket (10,000 timeline
rows, NaN / infinity / 1e308 in number widgets), a vendor echoing the key, Markdown in prompts and vendor
errors, a pasted over-long prompt, a half-filled timeline row.

One studio for the module, live against an external simulator whose faults the tests set.
"""
from __future__ import annotations

import io
import math
import time
import zipfile
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import Page, expect

from lib.core.plain import JOINER
from lib.core.tasks import Endpoint, State, Task
from lib.sim.options import DEMO_VIDU_KEY
from lib.store.sqlite import Store
from tests.e2e import hostile_client as hc
from tests.e2e.conftest import (
    clear_form,
    download_export,
    start_simulator,
    start_studio,
    stop,
    vendors_at,
    wait_until_idle,
)

CPU_BOUND_SECONDS = 5  # a safety bound for one forged message; the unbounded code took 66 s
HOSTILE_MARKDOWN = ("![pixel](http://127.0.0.1:9/pixel.png) [click me](https://evil.example) **loud** :red[red] "
                    ":smile: $x^2$ www.evil.example")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attack_inputs")
    simulator, simulator_url = start_simulator(folder / "sim.log", "--speed", "20")
    try:
        process, url = start_studio(folder / "data", folder / "studio.log", vendors_at(simulator_url))
    except Exception:
        stop(simulator)
        raise
    yield SimpleNamespace(url=url, pid=process.pid, sim=simulator_url, data=folder / "data")
    stop(process)
    stop(simulator)


@pytest.fixture
def fault(studio):
    """Set one simulator fault rule for the test; cleared afterwards."""
    def add(**rule):
        requests.post(f"{studio.sim}/_sim/faults", json=rule, timeout=10).raise_for_status()
    yield add
    requests.delete(f"{studio.sim}/_sim/faults", timeout=10).raise_for_status()


@pytest.fixture
def client(studio):
    with hc.HostileClient(studio.url) as session:
        yield session


def still_works(client: hc.HostileClient, page: str, key: str) -> None:
    """A later ordinary rerun of the same session runs to the end and draws the page's widgets."""
    run = client.run(page)
    assert run.finished and not run.exceptions, run.exceptions
    run.widget_id(key)


# --- forged widget values (no browser can send these) ----------------------------------------------------------

def test_ten_thousand_timeline_rows_in_one_message(studio, client):
    editor = client.run("timed").widget_id("tim_editor_0")
    rows = [{"from": 0.0, "to": 1.0, "prompt": f"sound {n}"} for n in range(10_000)]
    before = hc.cpu_seconds(studio.pid)
    run = client.run("timed", [hc.editor(editor, rows)])
    spent = hc.cpu_seconds(studio.pid) - before
    assert run.finished and not run.exceptions, run.exceptions
    assert any("A timeline has at most 20 events; this one has 10000" in t for t in run.texts("alert"))
    assert spent < CPU_BOUND_SECONDS, f"{spent:.1f} s of CPU for one message"
    assert not any("Event 21" in t for t in run.texts("alert"))  # no per-event work past the limit
    still_works(client, "timed", "tim_seed")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308])
def test_impossible_numbers_in_number_widgets(studio, client, value):
    first = client.run("timed")
    seed, duration, start = (first.widget_id(k) for k in ("tim_seed", "tim_duration", "tim_new_from"))
    run = client.run("timed", [hc.number(seed, value), hc.numbers(duration, [value]), hc.number(start, value)])
    assert run.finished and not run.exceptions, run.exceptions
    still_works(client, "timed", "tim_seed")
    sound = client.run("")  # the default page: Sound from text
    run = client.run("", [hc.number(sound.widget_id("t2a_seed"), value),
                               hc.numbers(sound.widget_id("t2a_duration"), [value])])
    assert run.finished and not run.exceptions, run.exceptions
    still_works(client, "", "t2a_seed")


def test_impossible_page_numbers_in_history(studio, client):
    store = Store(studio.data / "studio.db")
    for n in range(11):  # more than one page of finished tasks, so the page box is drawn
        store.add(Task(Endpoint.VIDU_TEXT2AUDIO, {"model": "audio1.0", "prompt": f"old {n}"}, state=State.FAILED,
                       vendor_id=f"old-{n}", created_at=time.time() - 3600, error_message="failed"))
    box = client.run("history").widget_id("hist_page")
    for value in (math.nan, math.inf, 1e308):
        run = client.run("history", [hc.number(box, value)])
        assert run.finished and not run.exceptions, run.exceptions
    still_works(client, "history", "hist_page")


@pytest.mark.parametrize("cell", [math.nan, math.inf, 1e400, "ten"], ids=["nan", "inf", "1e400", "text"])
def test_impossible_numbers_in_timeline_cells(studio, client, cell):
    editor = client.run("timed").widget_id("tim_editor_0")
    run = client.run("timed", [hc.editor(editor, [{"from": cell, "to": 2.0, "prompt": "rain"}])])
    assert run.finished and not run.exceptions, run.exceptions
    assert any("changes the studio cannot use" in t for t in run.texts("alert")), run.texts("alert")
    still_works(client, "timed", "tim_seed")


# --- a vendor echoing the key ----------------------------------------------------------------------------------

def test_a_vendor_echoing_the_key_never_shows_or_keeps_it(studio, fault, page: Page):
    fault(match="/ent/v2/text2audio", status=400, code=f"Bad_{DEMO_VIDU_KEY}",
          message=f"the key {DEMO_VIDU_KEY} is not allowed here")
    page.goto(studio.url)  # Sound from text is the default page
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill("an echo of the key")
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    alert = page.get_by_test_id("stAlert").filter(has_text="is not allowed here").first
    expect(alert).to_contain_text("[hidden]")
    assert DEMO_VIDU_KEY not in page.content()
    stored = b"".join(path.read_bytes() for path in studio.data.rglob("*") if path.is_file())
    assert b"is not allowed here" in stored and DEMO_VIDU_KEY.encode() not in stored
    page.goto(f"{studio.url}/settings")
    wait_until_idle(page)
    with zipfile.ZipFile(io.BytesIO(download_export(page))) as export:
        contents = b"".join(export.read(name) for name in export.namelist())
    assert b"is not allowed here" in contents and DEMO_VIDU_KEY.encode() not in contents


# --- in the browser --------------------------------------------------------------------------------------------

def test_markdown_in_a_prompt_and_a_vendor_error_shows_as_text(studio, fault, page: Page):
    fault(match="/ent/v2/text2audio", status=400, message=HOSTILE_MARKDOWN)
    page.goto(studio.url)  # Sound from text is the default page
    wait_until_idle(page)
    page.locator(".st-key-t2a_prompt textarea").fill(HOSTILE_MARKDOWN)
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    alerts = page.get_by_test_id("stAlert").filter(has_text="![pixel](http")
    expect(alerts.first).to_be_visible()
    for n in range(alerts.count()):  # the page's word joiners (see lib.core.plain) aside, the text as written
        assert HOSTILE_MARKDOWN in alerts.nth(n).inner_text().replace(JOINER, "")
        assert alerts.nth(n).locator("a, img, strong, .katex").count() == 0, alerts.nth(n).inner_html()
    expect(page.locator("img[src*='pixel.png'], a[href*='evil.example']")).to_have_count(0)


def test_a_pasted_prompt_past_the_limit_stays_and_is_explained(studio, page: Page):
    page.goto(studio.url)  # Sound from text is the default page
    wait_until_idle(page)
    clear_form(page, "t2a")  # the refused prompt of the test before is still this studio's draft
    box = page.locator(".st-key-t2a_prompt textarea")
    box.focus()
    page.keyboard.insert_text("r" * 1700)  # what a paste does: one insertion, no typing
    page.keyboard.press("Control+Enter")
    wait_until_idle(page)
    expect(box).to_have_value("r" * 1700)
    expect(page.get_by_test_id("stAlert").filter(has_text="1,700 of 1,500 characters — shorten it by 200")
           ).to_be_visible()
    page.locator(".st-key-t2a_submit button").click()
    wait_until_idle(page)
    expect(page.get_by_test_id("stAlert").filter(has_text="Please fix these first")).to_contain_text(
        "The prompt is 1,700 of 1,500 characters — shorten it by 200.")
    expect(box).to_have_value("r" * 1700)


@contextmanager
def a_full_run(page: Page):
    """Wait until what the block does has made the script run and that run has ended (the page's own state
    attribute goes to "running" and back, however briefly)."""
    page.evaluate("""() => {
        window.runsEnded = 0;
        const app = document.querySelector("[data-testid='stApp']");
        new MutationObserver(records => {
            window.runsEnded += records.filter(r => r.oldValue === "running").length;
        }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ["data-test-script-state"]});
    }""")
    yield
    page.wait_for_function("() => window.runsEnded > 0")
    wait_until_idle(page)


def test_a_half_filled_timeline_row_gets_a_message(studio, page: Page):
    page.goto(f"{studio.url}/timed")
    wait_until_idle(page)
    table = page.get_by_test_id("stDataFrame")
    box = table.bounding_box()
    with a_full_run(page):  # adding the row reruns the script; typing during that run would be lost
        page.mouse.click(box["x"] + 260, box["y"] + 35 + 17)  # the editor's "add a row" line, Sound column
    cell = page.locator("textarea.gdg-input")  # the new row's cell editor
    expect(cell).to_be_focused()
    cell.fill("Rain on a roof")
    expect(cell).to_have_value("Rain on a roof")
    cell.press("Enter")
    wait_until_idle(page)
    warnings = page.get_by_test_id("stAlert")
    expect(warnings.filter(has_text="Event 1 needs a start time.")).to_be_visible()
    expect(warnings.filter(has_text="Event 1 needs an end time.")).to_be_visible()
    page.locator(".st-key-tim_submit button").click()
    wait_until_idle(page)
    expect(warnings.filter(has_text="Please fix these first")).to_contain_text("Event 1 needs a start time.")
