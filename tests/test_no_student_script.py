"""No script of a student's runs in anyone's browser: the feedback page and the formgrader's view.

A student hands in the fixture lesson, completed, with eight kinds of script in it: ``<img
onerror>`` and ``<script>`` in an HTML output, in a Markdown output and in a Markdown cell, a
JavaScript output, and an SVG output with a script and an ``onload``. Each would mark the page
(``window.__pwned``) if it ran. The submission is graded (sandboxed) and its feedback written, and
headless Chromium opens

- the feedback page, as a file (as a student opens it, or the instructor from a zip);
- the formgrader's view of the autograded notebook, served by a Jupyter server with nbgrader's
  formgrader whose nbgrader config calls ``course_grader.results.render.configure_formgrader(c)`` (as the
  instructor's server on the classroom hub must), as the instructor opens it in their own session;

and no mark is set, while the formgrader's own scripts still run. As a control, the same
submission rendered by nbgrader's stock templates marks the page: the payloads are live.
"""

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402
from test_browser import _free_port, jupyter_server  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.jobs import batch
from course_grader.kernel import sandbox
from course_grader.results import render

pytestmark = pytest.mark.browser

LESSON = fx.LESSON
NB = f"{LESSON}.ipynb"
BIN = Path(sys.executable).parent


def mark(kind: str) -> str:
    return f"window.__pwned=(window.__pwned||[]).concat([`{kind}`])"


KINDS = ["html-img", "html-script", "markdown-img", "markdown-script", "cell-img", "cell-script", "javascript",
         "svg"]
OUTPUTS = f'''from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML('<img src="x" onerror="{mark('html-img')}">'))
display(HTML('<script>{mark('html-script')}</script>'))
display(Markdown('<img src="x" onerror="{mark('markdown-img')}">'))
display(Markdown('<script>{mark('markdown-script')}</script>'))
display(Javascript("{mark('javascript')}"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="{mark('svg')}">'
            '<script>{mark('svg')}</script><rect width="10" height="10"/></svg>'))
'''
CELL = f'''Notes <img src="x" onerror="{mark('cell-img')}">

<script>{mark('cell-script')}</script>
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory, bwrap):
    """The fixture course with the hostile submission graded; (course, its submission notebook's id)."""
    root = tmp_path_factory.mktemp("no_script") / "course"
    course = fx.make_course(root)
    workflow.release(course)
    nb = fx.completed(nbformat.read(course.release / LESSON / NB, as_version=4))
    nb.cells[1:1] = [new_markdown_cell(CELL), new_code_cell(OUTPUTS)]
    (course.submitted / "mallory" / LESSON).mkdir(parents=True)
    nbformat.write(nb, course.submitted / "mallory" / LESSON / NB)
    [report] = batch.autograde(course, jobs=1, limits=sandbox.Limits(cell_seconds=20, notebook_seconds=60),
                               progress=lambda line: None)
    assert report.score == 5, report.reasons
    autograded = (course.autograded / "mallory" / LESSON / NB).read_text()
    assert all(f"`{kind}`" in autograded for kind in KINDS)  # every kind reached the pages
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        submission_id = gradebook.find_submission_notebook(LESSON, LESSON, "mallory").id
    return course, submission_id


def marks(browser, url: str, check: str = "true"):
    """The marks set on the page at ``url`` once it has loaded, and the value of ``check`` there."""
    page = browser.new_page()
    # Nothing leaves this machine: the CDN's MathJax is refused at once rather than waited for.
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("[...document.images].every(i => i.complete)")
        page.wait_for_timeout(300)  # an onerror queued behind the load event
        return sorted(set(page.evaluate("window.__pwned || []"))), page.evaluate(check)
    finally:
        page.close()


def test_no_script_runs_in_the_feedback_page(graded, browser, monkeypatch):
    course, _ = graded
    page = course.feedback / "mallory" / LESSON / f"{LESSON}.html"
    # Control: nbgrader's stock feedback template, unsanitised, runs the student's scripts.
    stock_settings = {"HTMLExporter.template_name": "feedback", "HTMLExporter.template_file": "index.html.j2",
                      "HTMLExporter.sanitize_html": False, "HTMLExporter.filters": {}}
    monkeypatch.setattr(render, "feedback_settings", lambda: stock_settings)
    workflow.feedback(course)
    stock, _ = marks(browser, page.as_uri())
    assert {"html-img", "html-script", "markdown-img", "cell-img", "cell-script"} <= set(stock), stock
    monkeypatch.undo()
    workflow.feedback(course)
    html = page.read_text()
    assert html.index('http-equiv="Content-Security-Policy"') < html.index("<script")
    nonce = re.search(r"'nonce-([\w-]{16,})'", html).group(1)  # a policy made for this page, not the fallback
    assert all(f'nonce="{nonce}"' in tag for tag in re.findall(r"<script[^>]*>", html))
    got, text = marks(browser, page.as_uri(), "document.body.innerText")
    assert got == [], f"the student's scripts ran in the feedback page: {got}"
    assert "Notes" in text and "Passed: 2 / 2 points." in text  # the page still shows the work and the results


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """A Jupyter server with nbgrader's formgrader over the course, as the instructor's; yields (base, token)."""
    course, _ = graded
    runtime = tmp_path_factory.mktemp("formgrader")
    port, token = _free_port(), "course-formgrader-test"
    # The instructor's server loads the nbgrader config in its Jupyter config folder (as the classroom hub's does).
    (runtime / "config").mkdir()
    (runtime / "config" / "nbgrader_config.py").write_text(
        "from course_grader.results.render import configure_formgrader\nconfigure_formgrader(c)  # noqa: F821\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTER_CONFIG_DIR": str(runtime / "config")}
    command = [str(BIN / "jupyter"), "server", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={course.root}",
               "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=True"]
    with jupyter_server(command, port, token, cwd=course.grader, env=env, log_path=runtime / "server.log") as base:
        yield base, token


def test_no_script_runs_in_the_formgraders_view_and_the_formgrader_still_works(graded, formgrader, browser, tmp_path):
    course, submission_id = graded
    base, token = formgrader
    # Control: nbgrader's stock formgrade template, as the formgrader renders it without the course's settings.
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": LESSON, "notebook_id": LESSON, "submission_id": submission_id, "index": 0,
                 "total": 1, "base_url": base, "student": "mallory", "last_name": None, "first_name": None,
                 "notebook_path": ""}
    stock_page = tmp_path / "stock.html"
    stock_page.write_text(HTMLExporter(config=config).from_filename(
        str(course.autograded / "mallory" / LESSON / NB), resources=dict(resources))[0])
    stock, _ = marks(browser, stock_page.as_uri())
    assert {"html-img", "html-script", "markdown-img", "cell-img", "cell-script"} <= set(stock), stock

    got, works = marks(browser, f"{base}/formgrader/submissions/{submission_id}/?token={token}",
                       "[typeof jQuery, typeof Backbone, window.submission_id, typeof toggle_name, "
                       "document.querySelectorAll('.nbgrader_cell').length > 0]")
    assert got == [], f"the student's scripts ran in the formgrader: {got}"
    assert works == ["function", "object", submission_id, "function", True], works
