import os
import shutil
import subprocess

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quiet_and_seeded(monkeypatch):
    # Tests must not depend on each other's RNG use or on how many threads a machine has.
    torch.manual_seed(0)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def bwrap():
    """bubblewrap, installed with apt-get where missing (as root); its absence is an error, not a skip."""
    from course_grader.kernel import sandbox

    if shutil.which("bwrap") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "bubblewrap"]):
            subprocess.run(command, env=env, capture_output=True, check=False)
    return sandbox.check_sandbox()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, for a module's browser tests (test_browser, test_no_student_script)."""
    from test_browser import _ensure_chromium

    executable = _ensure_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        try:
            yield browser
        finally:
            browser.close()
