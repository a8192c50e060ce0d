"""A student reads all of their feedback: a long message wraps instead of running off the page.

A student's answer fails a test with a 2,000-character message that has no space in it (an error
their own code raised), and prints such a line too. The submission is graded (sandboxed) and its
feedback written; headless Chromium opens the page, as a student does, at a laptop's width: the
page is no wider than the window, and no output block hides part of its text behind a scroll bar.
"""

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402

from course_grader import workflow  # noqa: E402
from course_grader.jobs import batch
from course_grader.kernel import sandbox

pytestmark = pytest.mark.browser

LESSON = fx.LESSON
LONG = "x" * 2000
PRINTED = "y" * 2000
# Every output block of the page whose text is wider than the block (hidden, or scrolled out of view).
CUT = """() => [...document.querySelectorAll('.jp-OutputArea-output, .jp-OutputArea-output pre, .output_area pre')]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className + ': ' + e.innerText.slice(0, 80))"""


@pytest.fixture(scope="module")
def feedback_page(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("feedback_page") / "course"
    course = fx.make_course(root)
    workflow.release(course)
    nb = fx.completed(nbformat.read(course.release / LESSON / f"{LESSON}.ipynb", as_version=4))
    fx._cell(nb, "square").source = f"print({PRINTED!r})\n\ndef square(x):\n    raise ValueError({LONG!r})"
    (course.submitted / "ada" / LESSON).mkdir(parents=True)
    nbformat.write(nb, course.submitted / "ada" / LESSON / f"{LESSON}.ipynb")
    [report] = batch.autograde(course, jobs=1, limits=sandbox.Limits(cell_seconds=20, notebook_seconds=60),
                               progress=lambda line: None)
    assert report.score == 3, report.reasons  # test_square fails; the others pass
    workflow.feedback(course)
    return course.feedback / "ada" / LESSON / f"{LESSON}.html"


def test_a_long_message_wraps_within_the_page(feedback_page, browser):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.route("**/*", lambda route: route.abort() if route.request.url.startswith("http") else route.continue_())
    try:
        page.goto(feedback_page.as_uri(), wait_until="load")
        text = page.inner_text("body")
        # The failed test's result, with the message as the feedback quotes it, and the printed line, whole.
        failed = next(line for line in text.splitlines() if line.startswith("Failed: 0 / 2 points."))
        assert "ValueError: xxxxxxxxxx" in failed, failed[:200]
        quoted = max(len(run) for run in failed.split(" ") if set(run) == {"x"})
        assert quoted >= 500, failed[:200]
        assert PRINTED in text.replace("\n", "")
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window"
        cut = page.evaluate(CUT)
        assert cut == [], f"output blocks whose text does not fit them: {cut}"
        # The message is on the screen: its last characters lie inside the window, not scrolled out of it.
        right = page.evaluate("""() => { const r = document.createRange();
            const block = [...document.querySelectorAll('.jp-OutputArea-output pre, .output_area pre')]
                .find(e => e.innerText.startsWith('Failed: 0 / 2 points.'));
            r.selectNodeContents(block); return Math.max(...[...r.getClientRects()].map(c => c.right)); }""")
        assert right <= width[1], f"the message reaches {right} px in a {width[1]} px window"
    finally:
        page.close()
