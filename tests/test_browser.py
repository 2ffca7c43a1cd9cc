"""The course as a learner meets it: JupyterLab in a real (headless) Chromium.

For every notebook: open a copy of its student edition (student/, what Binder and the
JupyterHub link open; issue 25) in JupyterLab (served on 127.0.0.1 with a random token;
JupyterLab autosaves, so the committed notebooks are never served), run all cells with no
answer filled in, move one control of its main widget, and check that the widget's
output changed and that no error or traceback is on the page. The kernels run with the
course's thread count, as a learner's do, and the saved run must show what the committed
instructor notebook (made with two threads) shows, what nbval compares, model answers aside
(each exercise's check then says it has no answer yet, as in the committed notebook): each
notebook's run here is also its second fresh run. A screenshot of each
widget goes to ``screenshots/`` at the repository root.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it); browsers
cannot be downloaded here, so Playwright drives it through its executable path. Where
no Chromium can be found the tests are skipped, with that message.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_notebooks_twice import CHROMIUM, assert_shows_what_is_committed, learner_env

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "screenshots"

# notebook → the control of its main widget to move: its label on the page and its kind
# (notebooks/manifest.toml; found by the label JupyterLab shows, not by a position on the page)
MANIFEST = tomllib.loads((ROOT / "notebooks" / "manifest.toml").read_text())["notebook"]
NOTEBOOKS = {row["file"]: (row["control"]["kind"], row["control"]["label"]) for row in MANIFEST}


pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found (install Debian's chromium: apt-get install chromium, or set "
           "XAITUTOR_CHROMIUM); .ci/run installs it")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# One JupyterLab and one Chromium per worker for the whole session: pytest-xdist interleaves
# the notebooks' classes with other tests, and a module-scoped server restarted for each
# class cost about 4 s a notebook. Each notebook still gets a page and a workspace of its own.
@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    pytest.importorskip("playwright", reason="playwright is not installed: pip install -e '.[test]'")
    # serve a copy: JupyterLab autosaves what it runs, and the committed notebooks must not change
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "student", root / "student")     # what a student opens (issue 25)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
           f"--ServerApp.port={port}",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           "--LabApp.expose_app_in_browser=True",       # window.jupyterapp: an awaited save
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    # the kernels get no thread setting, so they run the course's own count as a learner's
    # do: each notebook's run here is also its second fresh run (test_notebooks_twice.py),
    # compared with the committed outputs (made with two threads)
    env = learner_env(XAITUTOR_DEVICE=os.environ.get("XAITUTOR_DEVICE", "cpu"))
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start within 60 s")
    yield url, token
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        except Exception as e:                                    # say why, never pass silently
            pytest.skip(f"Chromium at {CHROMIUM} cannot start here: {e}")
        yield b
        b.close()


def _control(page, kind: str, label: str):
    """The first control of that kind whose label on the page is ``label``: a dropdown's label
    stands beside its <select>, a checkbox's description in a <span> beside its box (ipywidgets 8;
    the checkbox's own label holds a zero-width space)."""
    exact = re.compile(f"^\\s*{re.escape(label)}\\s*$")
    if kind == "dropdown":
        return page.locator(".jupyter-widgets.widget-dropdown").filter(
            has=page.locator("label", has_text=exact)).locator("select").first
    if kind == "checkbox":
        return page.locator(".jupyter-widgets.widget-checkbox").filter(
            has=page.locator("label.widget-label-basic > span", has_text=exact)).locator("input").first
    raise ValueError(f"notebooks/manifest.toml: unknown control kind {kind!r} (dropdown or checkbox)")


def _output_of(widget) -> str:
    """What the widget shows: the sources of its images and the text of its HTML parts."""
    return widget.evaluate("""w => [...w.querySelectorAll('img')].map(i => i.src.slice(-200)).join('|')
                                + '#' + [...w.querySelectorAll('.widget-html-content')].map(h => h.innerHTML).join('|')""")


# One JupyterLab page per worker: loading JupyterLab's code costs Chromium about 6 s of CPU, so
# each notebook is opened in the page already loaded (as a learner opens one after another)
# and every document is closed again after it. A page left in a bad state by a failed test
# is replaced.
_PAGES: dict[str, object] = {}


def _lab_page(lab, browser):
    url, token = lab
    page = _PAGES.get("page")
    if page is None or page.is_closed():
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/lab/workspaces/tests?reset&token={token}")
        page.wait_for_function("() => window.jupyterapp", polling=200)
        page.evaluate("async () => { await window.jupyterapp.restored; }")     # every plugin active
        _PAGES["page"] = page
    return page


def _close_documents(page, url: str, token: str) -> None:
    """Close every open document and shut its kernel down; a page that cannot is dropped."""
    try:
        page.evaluate("async () => { await window.jupyterapp.commands.execute('application:close-all'); }")
        page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel, .jp-Dialog')",
                               timeout=10_000, polling=200)
    except Exception:
        page.close()
    _shut_down_kernels(url, token)


def _runs_in_jupyterlab_and_its_widget_answers(lab, browser, name):
    url, token = lab
    page = _lab_page(lab, browser)
    try:
        _run_and_move(page, url, token, name)
    finally:
        _close_documents(page, url, token)


def _run_and_move(page, url: str, token: str, name: str) -> None:
    page.evaluate("async path => { await window.jupyterapp.commands.execute('docmanager:open', {path}); }",
                  f"student/{name}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
    _accept_kernel_dialog(page)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached")
    # the student edition holds no outputs: every count on the page will come from this run
    assert not page.locator(".jp-Notebook .jp-InputPrompt").filter(has_text=re.compile(r"\[\d+\]")).count()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # done when the last cell has an execution count
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
        const last = prompts[prompts.length - 1];
        return last && /\\[\\d+\\]/.test(last.textContent);
    }""", timeout=300_000, polling=500)      # every 0.5 s, not every frame: less CPU
    control = _control(page, *NOTEBOOKS[name])
    widget = control.locator("xpath=ancestor::div[contains(@class,'jp-OutputArea-output')][1]")
    try:
        widget.scroll_into_view_if_needed(timeout=60_000)
    except Exception:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED_{name}.png"), full_page=True)
        raise
    before = _output_of(widget)
    if control.evaluate("c => c.tagName") == "SELECT":
        current = control.evaluate("s => s.selectedIndex")
        control.select_option(index=(current + 1) % control.locator("option").count())
    else:
        control.click()
    deadline = time.time() + 60
    while _output_of(widget) == before and time.time() < deadline:
        time.sleep(0.25)
    if _output_of(widget) == before:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED_{name}.png"), full_page=False)
        print("BEFORE", before[:300], "\nSELECTS", page.locator(".jupyter-widgets select").count(),
              control.input_value(), control.locator("option").all_text_contents())
    assert _output_of(widget) != before, f"{name}: the widget did not answer"
    SHOTS.mkdir(exist_ok=True)
    widget.screenshot(path=str(SHOTS / name.replace(".ipynb", ".png")))
    text = page.locator(".jp-Notebook").inner_text()
    assert "Traceback (most recent call last)" not in text, f"{name}: a cell raised"
    assert "Error displaying widget" not in text, f"{name}: a widget failed to render"
    # the second fresh run: save what JupyterLab ran and compare what nbval compares
    _save(page, name)
    assert_shows_what_is_committed(_saved_after_running(url, token, name), ROOT / "notebooks" / name)


def _save(page, name: str, wait_s: float = 60) -> None:
    """Save the notebook's document in JupyterLab (what File › Save Notebook does) and wait for
    the save to finish. A menu click proved unreliable on a busy machine: the file was not
    written within 120 s and nothing said why (the menu saves whatever JupyterLab counts as the
    current widget). Saving the open notebook's own document context either finishes, fails
    with JupyterLab's error, or times out naming any dialog that blocks it."""
    result = page.evaluate("""async ([name, wait]) => {
        const panel = Array.from(window.jupyterapp.shell.widgets('main'))
                           .find(w => w.context && w.context.path.endsWith(name));
        if (!panel) return 'failed: no open document ends with ' + name;
        const save = panel.context.save().then(() => 'saved', e => 'failed: ' + e);
        const late = new Promise(done => setTimeout(() => done('timed out'), wait));
        return Promise.race([save, late]);
    }""", [name, wait_s * 1000])
    if result != "saved":
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED_save_{name}.png"), full_page=False)
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        raise AssertionError(f"{name}: JupyterLab's save {result} (waited up to {wait_s:.0f} s); "
                             f"dialogs on the page: {dialogs or 'none'}")


def _saved_after_running(url: str, token: str, name: str, wait_s: float = 30):
    """The notebook as JupyterLab saved it once every code cell has run (the save is
    asynchronous: poll the server until the file holds an execution count for each)."""
    import json
    import urllib.error
    deadline, last = time.time() + wait_s, "nothing read yet"
    while time.time() < deadline:
        try:          # the file may be half written: the server then answers 500, or cut JSON
            with urllib.request.urlopen(f"{url}/api/contents/student/{name}?content=1&token={token}") as r:
                nb = nbformat.from_dict(json.load(r)["content"])
        except (urllib.error.HTTPError, json.JSONDecodeError) as e:
            last = f"{type(e).__name__}: {e}"
        else:
            code = [c for c in nb.cells if c.cell_type == "code"]
            if all(c.get("execution_count") is not None for c in code):
                return nb
            last = f"{sum(c.get('execution_count') is None for c in code)} code cells without a count"
        time.sleep(0.5)
    raise AssertionError(f"{name}: JupyterLab did not save the run within {wait_s:.0f} s ({last})")


# One class per notebook: pytest-xdist (--dist loadscope) gives each class its own unit of
# work, so the two workers share the notebooks (each worker starts its own JupyterLab).
def _lab_class(name: str) -> type:
    def test_notebook_runs_in_jupyterlab_and_its_widget_answers(self, lab, browser):
        _runs_in_jupyterlab_and_its_widget_answers(lab, browser, name)
    stem = name.removesuffix(".ipynb")
    return type(f"TestLab_{stem}", (), {
        "test_notebook_runs_in_jupyterlab_and_its_widget_answers":
            test_notebook_runs_in_jupyterlab_and_its_widget_answers})


for _name in NOTEBOOKS:
    globals()[f"TestLab_{_name.removesuffix('.ipynb')}"] = _lab_class(_name)


def _accept_kernel_dialog(page, wait_ms: int = 3000) -> None:
    """On a busy machine the kernel can be slow to start and JupyterLab asks which kernel
    to use; a learner would press "Select" (the notebook's own Python 3), so do that."""
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    try:
        dialog.wait_for(state="visible", timeout=wait_ms)
    except Exception:                                  # no dialog: nothing to do
        return
    dialog.get_by_role("button", name="Select", exact=True).click()


def _shut_down_kernels(url: str, token: str) -> None:
    """Free the memory of the notebook's kernel before the next notebook starts its own."""
    import json
    with urllib.request.urlopen(f"{url}/api/sessions?token={token}") as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{url}/api/sessions/{s['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req).close()


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a TCP socket listening on ``port`` (Linux /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        ip_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:          # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(ip_hex)[::-1]))
    return found


def test_lab_listens_on_loopback_only_and_wants_its_token(lab):
    """Issue 8: the Jupyter server of the tests binds to 127.0.0.1 and refuses a request
    without its token."""
    import urllib.error
    url, token = lab
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}/api/sessions", timeout=5)
    assert refused.value.code == 403
    with urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=5) as r:
        assert r.status == 200
