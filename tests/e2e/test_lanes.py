"""The Timed sound page's lanes picture in a real browser: 1, 3 and 20 events, every label readable, invalid
events in red (issue 10, "The timeline editor, fixed")."""
from itertools import pairwise

import pytest
from playwright.sync_api import Page, expect

from lib.core.timeline import STATUS_COLOURS, STATUS_LEGEND
from tests.e2e.conftest import add_events, screenshot, start_studio, stop, wait_until_idle

CHART = "[data-testid='stVegaLiteChart'] svg"
# The chart as drawn: each y-axis label and legend label with its box, and the fill of each bar.
READ_CHART = """selector => {
    const svg = document.querySelector(selector);
    const boxes = nodes => [...svg.querySelectorAll(nodes)].map(node => {
        const box = node.getBoundingClientRect();
        return {text: node.textContent, left: box.left, right: box.right, top: box.top, bottom: box.bottom};
    });
    const frame = svg.getBoundingClientRect();
    return {lanes: boxes('.role-axis-label text').filter(label => /^\\d+\\. /.test(label.text)),
            legend: boxes('.role-legend-label text'),
            bars: [...svg.querySelectorAll('.role-mark.mark-rect path')].map(bar => bar.getAttribute('fill')),
            frame: {left: frame.left, right: frame.right, top: frame.top, bottom: frame.bottom}};
}"""


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    """One demo studio for this module."""
    folder = tmp_path_factory.mktemp("lanes")
    process, url = start_studio(folder / "data", folder / "server.log")
    yield url
    stop(process)


def read_chart(page: Page, lanes: int) -> dict:
    """The chart once it shows `lanes` lanes (Vega draws after the script run ends)."""
    page.wait_for_function(f"""() => [...document.querySelectorAll("{CHART} .role-axis-label text")]
                               .filter(label => /^\\d+\\. /.test(label.textContent)).length === {lanes}""")
    return page.evaluate(READ_CHART, CHART)


def assert_readable(chart: dict, labels: list[str]) -> None:
    """Every label is drawn in full, inside the picture, and no two labels share a line."""
    assert [lane["text"] for lane in chart["lanes"]] == labels
    frame = chart["frame"]
    for label in chart["lanes"] + chart["legend"]:
        assert frame["left"] <= label["left"] and label["right"] <= frame["right"] + 0.5, label
        assert frame["top"] <= label["top"] and label["bottom"] <= frame["bottom"] + 0.5, label
    tops = sorted(chart["lanes"], key=lambda lane: lane["top"])
    assert all(upper["bottom"] <= lower["top"] for upper, lower in pairwise(tops)), tops
    assert [label["text"] for label in chart["legend"]] == list(STATUS_LEGEND.values())


def test_one_event_has_one_labelled_lane(page, studio_url):
    add_events(page, studio_url, [("1", "4", "A door creaks open")])
    chart = read_chart(page, 1)
    assert_readable(chart, ["1. A door creaks open"])
    assert chart["bars"] == [STATUS_COLOURS["ok"]]
    expect(page.get_by_text("1 event will be sent.")).to_be_visible()


def test_three_events_with_a_reversed_one_and_one_past_the_end_in_red(page, studio_url):
    add_events(page, studio_url, [("0", "3", "Birds chirping in the early morning by a quiet lake"),
                                  ("6", "4", "A bell"), ("8", "12", "A car horn")])
    chart = read_chart(page, 3)
    assert_readable(chart, ["1. Birds chirping in the early…", "2. A bell", "3. A car horn"])
    assert chart["bars"] == [STATUS_COLOURS["ok"], STATUS_COLOURS["invalid"], STATUS_COLOURS["invalid"]]
    expect(page.get_by_text("3 events will be sent.")).to_be_visible()
    # The time past the clip is kept as typed and reported, not clamped to the clip's end.
    expect(page.get_by_test_id("stAlert").filter(has_text="Event 3 ends after the clip (12 s > 10 s).")
           ).to_have_count(1)
    expect(page.get_by_test_id("stAlert").filter(has_text="Event 2 ends before it starts")).to_have_count(1)
    screenshot(page, "timed-lanes-3")


def test_twenty_events_every_label_shows(page, studio_url):
    sounds = [f"Sound number {n} with a rather long description of what it is" for n in range(1, 21)]
    add_events(page, studio_url, [(str(n % 9), str(n % 9 + 1), sound) for n, sound in enumerate(sounds)])
    chart = read_chart(page, 20)
    assert_readable(chart, [f"{n}. Sound number {n} with a rathe…" if n < 10 else
                            f"{n}. Sound number {n} with a rath…" for n in range(1, 21)])
    assert len(chart["bars"]) == 20 and STATUS_COLOURS["invalid"] not in chart["bars"]
    expect(page.get_by_text("20 events will be sent.")).to_be_visible()
    screenshot(page, "timed-lanes-20")
