"""Fixtures for the browser tests: a real JupyterLab server and Debian's chromium driven by Playwright.

The server runs on 127.0.0.1 on a free port (`port_retries=0`, so it never silently moves), with a
random token (the REST calls below send it; with an empty token the server refuses DELETE without an
XSRF cookie), the smoke preset and the shared IMDB archive in its environment, and its own config,
settings, workspace and runtime folders so nothing of the user's is read or written. The notebooks
are copies of the committed `.ipynb` files in a temporary folder: a test never saves outputs into
the repository. After each journey its kernels are shut down through the server's REST API, and the
test fails if the server still lists one; at the end, exactly the server process started here is
stopped (SIGTERM: it shuts down any kernel left, then exits).

Without chromium the tests are skipped with the reason, unless `BERTMLM_REQUIRE_BROWSER=1`
(set by `.ci/run`, which installs chromium), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bertmlm_lib.tools.measure.lessons import free_port  # the same free-port probe the lessons bench uses

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BERTMLM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ROOT / "build" / "screenshots"
TOKEN = secrets.token_hex(16)
# JupyterLab's news and update checks would reach the internet: off, as a user setting.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install playwright)")
    if missing:
        reason = "browser tests need " + " and ".join(missing)
        if os.environ.get("BERTMLM_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _wait_for_status(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll `/api/status` until the server answers; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {TOKEN}"})
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A running JupyterLab on loopback: yields its base URL and the folder it serves."""
    _require_browser()
    home = tmp_path_factory.mktemp("lab")
    served = home / "served"
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, BERTMLM_PRESET="smoke", MPLBACKEND="Agg",
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    env.setdefault("BERTMLM_ARTIFACTS", str(ROOT / "build" / "artifacts-smoke"))
    port = free_port()
    log = home / "jupyter.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
               f"--ServerApp.root_dir={served}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.extension_manager=readonly"]  # no extension index queries (no internet here)
    if os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=served, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_status(url, process, log)
        yield {"url": url, "token": TOKEN, "served": served, "artifacts": Path(env["BERTMLM_ARTIFACTS"])}
    finally:
        process.send_signal(signal.SIGTERM)  # this process only; it stops its own kernels
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api(lab: dict, method: str, path: str):
    """One call to the Jupyter server's REST API (`/api/<path>`) with its token; the JSON answer or None."""
    request = urllib.request.Request(f"{lab['url']}/api/{path}", method=method,
                                     headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = answer.read()
    return json.loads(body) if body else None


@pytest.fixture(autouse=True)
def journey_kernels(lab):
    """Shut down the kernels a journey started when it ends (pass or fail), then check none is listed."""
    before = {kernel["id"] for kernel in _api(lab, "GET", "kernels")}
    yield
    for session in _api(lab, "GET", "sessions"):  # deleting a session shuts its kernel down
        if session["kernel"] and session["kernel"]["id"] not in before:
            _api(lab, "DELETE", f"sessions/{session['id']}")
    for kernel in _api(lab, "GET", "kernels"):  # a kernel without a session, if any
        if kernel["id"] not in before:
            _api(lab, "DELETE", f"kernels/{kernel['id']}")
    left = [kernel for kernel in _api(lab, "GET", "kernels") if kernel["id"] not in before]
    assert not left, f"kernels the journey started are still running: {left}"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, launched by Playwright (whose own browser download cannot work here)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh page that records uncaught exceptions and console errors, and screenshots at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.uncaught, page.console_errors = [], []
    page.on("pageerror", lambda error: page.uncaught.append(str(error)))
    page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-end.png"))
    finally:
        context.close()
