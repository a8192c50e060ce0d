"""What a student sees: a lesson in JupyterLab, driven in a real (headless) Chromium.

Starts JupyterLab on a free loopback port with a token, over a scratch copy of lesson 01 (as
released, and a copy completed with the solutions), runs all cells, and checks the page: the
worked examples' output and figures render as images, the first exercise stops with
NotImplementedError, progress bars are widgets or clean text, and nbgrader's Validate button
fails the untouched lesson and passes the completed one. Screenshots go to
``build/screenshots/`` (git-ignored). The server is stopped whatever happens.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from simulate import completed_copy

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LESSON = "01_why_finetune"
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
BIN = Path(sys.executable).parent


def _ensure_chromium() -> str:
    """Debian's Chromium, installed here if missing; playwright's own browser download is not used."""
    if shutil.which("chromium") or os.path.exists(CHROMIUM):
        return shutil.which("chromium") or CHROMIUM
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Chromium is not installed and this user cannot install Debian packages "
                    "(apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "fonts-liberation"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"could not install Chromium with {' '.join(command)}: {result.stderr[-500:]}")
    return shutil.which("chromium") or CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `make lab` runs it, over a scratch folder; yields (base_url, token)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "lessons" / LESSON, root / LESSON)
    completed = completed_copy(nbformat.read(ROOT / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4),
                                nbformat.read(ROOT / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4))
    (root / "completed").mkdir()
    nbformat.write(completed, root / "completed" / f"{LESSON}.ipynb")
    port, token = _free_port(), "course-browser-test"
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(ROOT / "jupyter"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    # CI exports MPLBACKEND=Agg for headless runs; a kernel that inherits it draws no inline
    # figures at all (ipykernel only picks the inline backend when MPLBACKEND is unset), and
    # `make lab` unsets it for the same reason.
    env.pop("MPLBACKEND", None)
    command = [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"]
    with jupyter_server(command, port, token, cwd=root, env=env, log_path=root / "lab.log") as base:
        yield base, token


@contextlib.contextmanager
def jupyter_server(command: list[str], port: int, token: str, cwd: Path, env: dict, log_path: Path):
    """A Jupyter server (``command``, on loopback ``port``) in a session of its own, logging to ``log_path``;
    yields its base URL once it answers, and stops it (the whole session) on the way out."""
    if os.geteuid() == 0:
        command = [*command, "--allow-root"]
    log = open(log_path, "w")
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[1]} did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _open(browser, lab, path):
    base, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    # A workspace of its own, reset: otherwise JupyterLab reopens the previous page's tabs
    # and the toolbar's Validate may act on another notebook.
    workspace = re.sub(r"\W", "-", path)
    page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?token={token}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    return page


def _wait(page, condition: str, what: str, timeout: int) -> None:
    """Wait for a JavaScript condition; on time-out, say what was awaited and what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, timeout=timeout)
    except PlaywrightTimeout:
        state = page.evaluate("""() => ({
            kernel: document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
            prompts: [...document.querySelectorAll('.jp-InputPrompt')].map(e => e.textContent.trim()).join(' '),
            images: document.querySelectorAll('.jp-OutputArea-output img').length,
            stderr: [...document.querySelectorAll("[data-mime-type='application/vnd.jupyter.stderr']")]
                    .map(e => e.textContent.slice(0, 300)),
        })""")
        raise AssertionError(f"{what}: not seen within {timeout / 1000:.0f} s; the page shows {state}") from None


def _validate(page) -> str:
    page.get_by_role("button", name="Validate").click()
    dialog = page.wait_for_selector(".jp-Dialog", timeout=240_000)
    page.wait_for_function("() => !document.querySelector('.jp-Dialog')?.innerText.includes('Validating')",
                           timeout=240_000)
    return dialog.text_content()


def test_lesson_runs_in_jupyterlab_as_a_student_sees_it(browser, lab):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = _open(browser, lab, f"{LESSON}/{LESSON}.ipynb")
    try:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        # On a loaded machine a click can land before JupyterLab has wired its commands to the kernel, and
        # nothing runs (seen once in a fresh clone): click again until a cell is queued or has run.
        started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[[*0-9]/.test(e.textContent))"
        for attempt in range(3):
            page.get_by_role("menuitem", name="Run").click()
            page.get_by_text("Run All Cells", exact=True).click()
            try:
                page.wait_for_function(started, timeout=60_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise AssertionError("Run All Cells, clicked three times, ran no cell") from None
        # Run All stops at the first error: the first exercise's NotImplementedError.
        stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        _wait(page, f"() => [...document.querySelectorAll(\"{stderr}\")].some(e => e.textContent.includes('Error'))",
              "the first exercise's NotImplementedError", 240_000)
        # The page catches up with the kernel asynchronously (more so on a busy machine): wait
        # until no cell is queued or running, the figures have loaded, and the bars are done.
        _wait(page, "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'))",
              "every cell finished (no [*] prompt)", 240_000)
        _wait(page, "() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                    ".filter(i => i.complete && i.naturalWidth > 200).length >= 2",
              "the sample grid and the learning curves as images", 60_000)
        _wait(page, "() => [...document.querySelectorAll('.jp-OutputArea-output .widget-html-content')]"
                    ".some(e => e.textContent.includes('8/8'))", "the epoch progress bar at 8/8", 60_000)
        # textContent, not innerText: JupyterLab skips layout of cells scrolled out of view
        text = "\n".join(page.locator(".jp-OutputArea-output").all_text_contents())
        errors = [t for t in page.locator(stderr).all_text_contents() if "Error" in t]
        assert len(errors) == 1 and "NotImplementedError" in errors[0], \
            f"only the first exercise's stub should fail, not a worked example: {[e[:300] for e in errors]}"
        assert "held-out accuracy after 8 epochs" in text and "trainable: 2,565" in text, text[:2000]
        images = page.locator(".jp-OutputArea-output img")
        assert images.count() >= 2, "the sample grid and the learning curves should render as images"
        for i in range(images.count()):
            assert images.nth(i).evaluate("img => img.naturalWidth") > 200
        bars = page.locator(".jp-OutputArea-output .widget-hprogress")
        assert bars.count() >= 1, "tqdm.auto progress bars should render as ipywidgets, not text"
        assert "8/8" in text, "the epoch progress bar should reach 8/8"
        assert not re.search(r"\x1b\[|\[A|\[\d+m", text), "raw terminal escape codes in the output"
        # Scroll so the learning curves and the first exercise's error are in view, and let
        # JupyterLab lay out the cells it skipped while they were off screen.
        images.nth(1).evaluate("img => img.scrollIntoView({block: 'start'})")
        page.mouse.wheel(0, -150)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SCREENSHOTS / "lesson01_run_all.png"))

        result = _validate(page)
        page.screenshot(path=str(SCREENSHOTS / "lesson01_validate_untouched.png"))
        assert "failed" in result.lower() and "Success" not in result, result[:500]
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "lesson01_failure.png"))
        raise
    finally:
        page.close()


def test_validate_passes_a_completed_lesson(browser, lab):
    page = _open(browser, lab, f"completed/{LESSON}.ipynb")
    try:
        result = _validate(page)
        page.screenshot(path=str(SCREENSHOTS / "lesson01_validate_completed.png"))
        assert "Success" in result and "passes all the tests" in result, result[:500]
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "lesson01_completed_failure.png"))
        raise
    finally:
        page.close()
