"""A real `streamlit run` on loopback in demo mode, driven by Playwright in Debian's Chromium."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# Flags this machine needs: no sandbox as root, and no background calls to hosts it cannot reach.
expect.set_options(timeout=20_000)  # shared, busy machines: give the page time before calling it a failure
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(what: str, command: list[str], log_path: Path, health: str, env: dict | None = None,
            ) -> subprocess.Popen:
    """Start `command` and wait until `health` answers 200, or fail with the process's own output."""
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the {what} did not start:\n{log_path.read_text()}")
        try:
            if requests.get(health, timeout=1).ok:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.1)


def start_studio(data_dir: Path, log_path: Path, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    keys = ("VIDU_API_KEY", "KLING_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "STUDIO_PASSWORD")
    env = {**{k: v for k, v in os.environ.items() if k not in keys},
           "STUDIO_DATA_DIR": str(data_dir), "STUDIO_SIM_SPEED": "20", "STUDIO_SIM_QUEUE_SECONDS": "0",
           **(extra_env or {})}
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless=true",
               "--server.address=127.0.0.1", f"--server.port={port}", "--server.fileWatcherType=none",
               "--browser.gatherUsageStats=false"]
    return _launch("studio", command, log_path, f"{url}/_stcore/health", env), url


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def studio_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    process, url = start_studio(folder / "data", folder / "server.log")
    yield url
    stop(process)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run ./test.sh, which installs it")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def wait_until_idle(page: Page, timeout: float = 30_000) -> None:
    """Streamlit's own end-to-end helper: connected, script not running, no skeletons left."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", state="attached",
                           timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached",
                           timeout=timeout)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=timeout)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def start_simulator(log_path: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`python -m lib.sim` in its own process, so it outlives a studio we kill on purpose."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "lib.sim", "--port", str(port), *options]
    return _launch("simulator", command, log_path, f"{url}/_sim/health"), url


def vendors_at(simulator_url: str) -> dict:
    """Environment that makes both vendors "live" against an external simulator, with its demo keys."""
    from lib.sim.options import (
        DEMO_KLING_ACCESS_KEY,
        DEMO_KLING_SECRET_KEY,
        DEMO_VIDU_KEY,
    )

    return {"VIDU_API_KEY": DEMO_VIDU_KEY, "VIDU_BASE_URL": simulator_url,
            "KLING_ACCESS_KEY": DEMO_KLING_ACCESS_KEY, "KLING_SECRET_KEY": DEMO_KLING_SECRET_KEY,
            "KLING_BASE_URL": simulator_url}


def sign_in(page: Page, url: str, name: str, password: str) -> None:
    """Through the gate at `url` (a page address keeps its query through the sign-in), with a team password or
    an account's password alike: the gate has one password box either way."""
    page.goto(url)
    wait_until_idle(page)
    page.get_by_role("textbox", name="Your name").fill(name)
    page.locator("input[type='password']").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_until_idle(page)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=30_000)


def download_export(page: Page) -> bytes:
    """The history export from Settings (already open): prepared on the server, then fetched by its signed
    link the way the browser's download would."""
    page.get_by_role("button", name="Prepare an export (ZIP)").click()
    link = page.get_by_role("link", name="Download the export")
    expect(link).to_be_visible()
    answer = requests.get(link.get_attribute("href"), timeout=30)
    assert answer.ok and answer.headers["content-type"] == "application/zip", answer.status_code
    assert answer.headers["content-disposition"].startswith("attachment")
    return answer.content


NGINX = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
NGINX_RECIPE = ROOT / "deploy" / "nginx.conf.example"
# Where each request went, by its sticky-session key: how a test tells which replica holds a browser's session.
NGINX_LOG_FORMAT = "log_format routes '$cue_replica $status $request_method $uri $upstream_addr';"


def start_nginx(upstreams: list[str], folder: Path) -> tuple[subprocess.Popen, str]:
    """The README's nginx recipe (deploy/nginx.conf.example) as a child process on a free loopback port, in front
    of `upstreams` (host:port each); its access log is `folder / "access.log"` in NGINX_LOG_FORMAT."""
    if not Path(NGINX).exists():
        pytest.fail(f"nginx is missing at {NGINX}: run ./test.sh, which installs it")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "".join(f"    server {address} max_fails=1 fail_timeout=10s;\n" for address in upstreams)
    recipe = re.sub(r"(?m)^    server 127\.0\.0\.1:\d+ .*\n", "", NGINX_RECIPE.read_text())
    recipe = recipe.replace("hash $cue_replica consistent;\n", f"hash $cue_replica consistent;\n{servers}", 1)
    recipe = recipe.replace("listen 80;", f"listen 127.0.0.1:{port};", 1)
    (folder / "cue-studio.conf").write_text(recipe)
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (folder / "nginx.conf").write_text("\n".join([
        "user root;" if os.getuid() == 0 else "",  # its workers would otherwise be `nobody`, kept out of /tmp/...
        "worker_processes 1;", f"pid {folder / 'nginx.pid'};", f"error_log {folder / 'error.log'} info;",
        "events { worker_connections 512; }",
        "http {",
        f"include {folder / 'cue-studio.conf'};",
        NGINX_LOG_FORMAT, f"access_log {folder / 'access.log'} routes;",
        *(f"{name}_temp_path {path};" for name, path in temp.items()),
        "}", ""]))
    command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf"),
               "-g", "daemon off;"]
    url = f"http://127.0.0.1:{port}"
    return _launch("nginx", command, folder / "nginx.out", f"{url}/_stcore/health"), url


def upstream_of(access_log: Path, key: str) -> str:
    """The replica (host:port) that answered the latest request with the sticky-session key `key`."""
    routes = [line.split(" ", 4) for line in access_log.read_text().splitlines()]
    # after a retry $upstream_addr lists each replica tried ("a:1, b:2"): the last one answered
    return [fields[4].split(", ")[-1] for fields in routes if fields[0] == key and ":" in fields[4]][-1]


def clear_form(page: Page, prefix: str) -> None:
    """Press the form's "Clear": a test that adds to a form starts from an empty one, whatever draft an earlier
    test on the same studio left (drafts outlive a browser context)."""
    page.locator(f".st-key-{prefix}_clear").get_by_role("button", name="Clear").click()
    wait_until_idle(page)


def add_events(page: Page, url: str, events: list[tuple[str, str, str]]) -> None:
    """On Timed sound, from an empty form: each (from, to, sound) typed in and added with "Add event"."""
    page.goto(f"{url}/timed")
    wait_until_idle(page)
    clear_form(page, "tim")
    for start, end, sound in events:
        page.locator(".st-key-tim_new_from input").fill(start)
        page.locator(".st-key-tim_new_to input").fill(end)
        page.locator(".st-key-tim_new_prompt input").fill(sound)
        page.get_by_role("button", name="Add event").click()
        wait_until_idle(page)
