"""The classroom server: ``finetune-course hub`` on loopback, two students and the instructor.

One hub for the module (it takes root: local accounts named ``fcth-*``, removed at the end, with the
checkout's file modes put back). The browser test goes through a lesson as a class would: the
instructor publishes it; each student logs in with the generated password in headless Chromium,
*Fetch*es it in the Assignment List, answers (one right, one wrong), *Validate*s and *Submit*s; the
instructor collects from the exchange, autogrades (sandboxed), writes feedback and returns it, and
sees the submissions in the formgrader; each student *Fetch Feedback*s and reads it: full points, or
the failed checks, and never a hidden-test line. Screenshots go to ``build/screenshots/``.

The security tests try, as a student, what part 4 of the issue says a student must not manage:
list or read another's submission (in the exchange or their home), read the instructor's course,
open the formgrader, hand in as someone else, and plant a link that collect follows.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import classroom_support
import nbformat
import pytest
from simulate import completed_copy, expected_scores, rounds, secret_lines

from classroom.api import scratch_classroom
from classroom.checks import check
from classroom.settings import COURSE_ID, HubError, Settings, read_roster
from course_grader.results.feedback import explanations

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LESSON = "03_replacing_the_head"
PREFIX = "fcth-"
RIGHT, WRONG, OTHER = f"{PREFIX}ada", f"{PREFIX}grace", f"{PREFIX}alan"
INSTRUCTOR = f"{PREFIX}teacher"
SCREENSHOTS = ROOT / "build" / "screenshots"
FAILED = re.compile(r"Failed: 0 / \d+ points?\. \S")  # a failed test's result and its message, as feedback shows it


# -- checks before anything changes (no root needed for these) ------------------------------------------
def test_roster_problems_are_all_named_and_nothing_is_changed(tmp_path, monkeypatch):
    roster = tmp_path / "roster.csv"
    roster.write_text("username\nada\nAda Lovelace\nada\n9lives\n\ngrace,Grace Hopper\n")
    with pytest.raises(HubError) as error:
        read_roster(roster)
    message = str(error.value)
    assert "line 3: 'Ada Lovelace' is not a user name" in message
    assert "line 4: ada again (first on line 2)" in message
    assert "line 5: '9lives'" in message
    roster.write_text("login\nada\ngrace,Grace Hopper\n")
    assert read_roster(roster) == ["ada", "grace"]

    # Every reason at once: not root, the instructor on the roster, an account that is not the hub's
    # (root), a group of a roster line's name (audio), a port in use, no proxy and no npm; the hub's
    # folder is not created.
    roster.write_text("ada\nroot\naudio\nteacher\n")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name in ("npm", "configurable-http-proxy")
                        else which(name, *a, **k))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings(roster=roster, directory=tmp_path / "hub", instructor="teacher",
                            port=taken.getsockname()[1])
        problems = "\n".join(check(settings))
    assert "run as root" in problems
    assert "the instructor teacher is on the roster too" in problems
    assert "an account root already exists on this machine and was not made by this hub" in problems
    assert "a group audio already exists on this machine" in problems
    assert f"port {settings.port} on 127.0.0.1 is taken" in problems
    assert "neither configurable-http-proxy nor npm is installed" in problems
    assert not (tmp_path / "hub").exists()


def test_the_command_stops_with_what_to_do(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Bad Name\n")
    result = subprocess.run([str(BIN / "finetune-course"), "hub", "--roster", str(roster), "--dir",
                             str(tmp_path / "hub")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "nothing was changed" in result.stderr and "'Bad Name' is not a user name" in result.stderr
    assert not (tmp_path / "hub").exists()


# -- the classroom ---------------------------------------------------------------------------------------
class Classroom(classroom_support.Classroom):
    def write_answers(self, student: str, nb, lesson: str = LESSON) -> None:
        super().write_answers(student, nb, lesson)


@pytest.fixture(scope="module")
def classroom():
    if os.geteuid() != 0:
        pytest.skip("the classroom server creates local accounts: run as root (CI does)")
    with scratch_classroom([f"{RIGHT},Ada Lovelace", f"{WRONG},\"Hopper, Grace\"", OTHER], INSTRUCTOR,
                           PREFIX) as (api, directory, log):
        yield Classroom(api, directory, log, INSTRUCTOR)
    assert not any(a.pw_name.startswith(PREFIX) for a in pwd.getpwall())


def test_the_hub_prints_how_to_log_in_and_keeps_passwords_for_root(classroom):
    log = classroom.log.read_text()
    assert f"The classroom server: http://localhost:{classroom.url.rsplit(':', 1)[1]}/" in log
    assert str(classroom.directory / "accounts.csv") in log
    assert set(classroom.passwords) == {RIGHT, WRONG, OTHER, INSTRUCTOR}
    assert (classroom.directory / "accounts.csv").stat().st_mode & 0o777 == 0o600
    # The accounts are real: PAM takes the password, and not another one.
    import pamela

    pamela.authenticate(RIGHT, classroom.passwords[RIGHT], service="login")
    with pytest.raises(pamela.PAMError):
        pamela.authenticate(RIGHT, classroom.passwords[WRONG], service="login")
    # As an instructor's shell script reads it: the third field of the student's line, whole.
    line = next(line for line in (classroom.directory / "accounts.csv").read_bytes().split(b"\n")
                if line.startswith(RIGHT.encode() + b","))
    pamela.authenticate(RIGHT, line.split(b",")[2].decode(), service="login")


# -- the browser: a lesson from release to feedback --------------------------------------------------------
def _browser():
    return classroom_support.browser()


def _log_in(browser, classroom, user):
    return classroom_support.log_in(browser, classroom, user)


def _assignment_list(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.click(".lm-Menu-itemLabel:text-is('Assignment List')")
    page.wait_for_selector("#released_assignments_list")
    return page


def _section(page, selector: str) -> str:
    return page.inner_text(selector)


def _refresh(page):
    page.click("#refresh_assignments_list")
    page.wait_for_timeout(1500)


def test_two_students_and_the_instructor_from_release_to_feedback(classroom):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    classroom.instructor("publish", LESSON)
    source = nbformat.read(classroom.course / "solutions" / LESSON / f"{LESSON}.ipynb", as_version=4)
    released = nbformat.read(classroom.course / "lessons" / LESSON / f"{LESSON}.ipynb", as_version=4)
    from wrong_answers.l03_replacing_the_head import VARIANTS

    wrong_round = rounds([v for v in VARIANTS if not v.right])[0]
    answers = {RIGHT: completed_copy(released, source), WRONG: completed_copy(released, source, wrong_round)}
    expected = {RIGHT: sum(expected_scores(source, {}).values()),
                WRONG: sum(expected_scores(source, wrong_round).values())}
    full = sum(expected_scores(source, {}).values())
    assert expected[WRONG] < full

    playwright, browser = _browser()
    try:
        pages = {}
        for student in (RIGHT, WRONG):
            context, page = _log_in(browser, classroom, student)
            pages[student] = page
            _assignment_list(page)
            page.wait_for_selector(f"#released_assignments_list >> text={LESSON}")
            page.click("#released_assignments_list button:text-is('Fetch')")
            page.wait_for_selector(f"#fetched_assignments_list >> text={LESSON}")
            # The course package is importable in the student's kernel: the notebook's first import works
            # when Validate runs it below. The student's answers:
            classroom.write_answers(student, answers[student])
            page.click(f"#fetched_assignments_list a:has-text('{LESSON}')")
            page.click("#fetched_assignments_list button:text-is('Validate')")
            dialog = page.wait_for_selector(".jp-Dialog", timeout=300_000)
            page.wait_for_function("() => !document.querySelector('.jp-Dialog').innerText.includes('Validating')",
                                   timeout=300_000)
            verdict = dialog.inner_text()
            if student == RIGHT:
                assert "Success! Your notebook passes all the tests." in verdict, verdict[:2000]
            else:
                assert "failed" in verdict.lower() and "Success!" not in verdict, verdict[:2000]
            page.click(".jp-Dialog button.jp-mod-accept")
            page.click("#fetched_assignments_list button:text-is('Submit')")
            page.wait_for_selector(f"#submitted_assignments_list >> text={LESSON}")
            page.screenshot(path=str(SCREENSHOTS / f"hub_assignment_list_{student}.png"))

        # The instructor: each step one command typed into a terminal of their JupyterLab, in the course folder,
        # as the guide says (the commands are on the terminal's PATH: it is a login shell).
        context, teacher = _log_in(browser, classroom, INSTRUCTOR)
        teacher.click(".lm-MenuBar-itemLabel:text-is('File')")
        teacher.click(".lm-Menu-itemLabel:text-is('New')")
        teacher.click(".lm-Menu-itemLabel:text-is('Terminal')")
        teacher.wait_for_selector(".jp-Terminal .xterm-screen")
        typed = {step: _typed(classroom, teacher, step, f"finetune-course grade {command}") for step, command in (
            ("collect", f"collect --exchange --lesson {LESSON}"), ("autograde", f"autograde --lesson {LESSON}"),
            ("feedback", "feedback"), ("return", f"return {LESSON}"))}
        assert f"{RIGHT}/{LESSON}/{LESSON}.ipynb" in typed["collect"], typed
        assert f"{WRONG}/{LESSON}/{LESSON}.ipynb" in typed["collect"], typed
        assert "graded 2 submissions" in typed["autograde"], typed
        assert "feedback of 2 submissions in the exchange" in typed["return"], typed
        teacher.screenshot(path=str(SCREENSHOTS / "hub_instructor_terminal.png"))

        # The formgrader, in a browser tab of its own (JupyterHub forbids framing it inside JupyterLab).
        teacher.goto(f"{classroom.api.user_url(INSTRUCTOR)}/formgrader/gradebook/{LESSON}/{LESSON}")
        teacher.wait_for_selector("text=Submission #2")
        teacher.click("text=Show All Names")
        table = teacher.inner_text("table")
        # Each student by the roster's full name, not "None, None" (the gradebook has them from the start).
        rows = {line.split("\t")[1]: line for line in table.splitlines() if "\t" in line}
        assert f"{expected[RIGHT]:g} / {full:g}" in rows["Lovelace, Ada"], table
        assert f"{expected[WRONG]:g} / {full:g}" in rows["Hopper, Grace"], table
        assert "None" not in table, table
        teacher.screenshot(path=str(SCREENSHOTS / "hub_formgrader.png"))

        hidden = {line for lesson, region, line in secret_lines(_course(classroom), regions=("HIDDEN TESTS",))
                  if lesson == LESSON}
        hidden = {line for line in hidden if len(line.strip()) > 12}
        assert hidden
        for student, page in pages.items():
            _refresh(page)
            page.click("#submitted_assignments_list button:text-is('Fetch Feedback')")
            # "(view feedback)" opens the feedback's folder in the file browser; the student opens the page.
            page.click("#submitted_assignments_list a:has-text('view feedback')")
            page.locator(".jp-DirListing-item", has_text=f"{LESSON}.html").dblclick()
            frame, text = _frame_text(page, f"{LESSON} (Score:")
            if student == WRONG:  # the first failed check in view
                frame.locator("text=/Failed: 0 /").first.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"hub_feedback_{student}.png"))
            assert f"{LESSON} (Score: {expected[student]:.1f} / {full:.1f})" in text, text[:1500]
            scores = expected_scores(source, wrong_round if student == WRONG else {})
            # Each failed test says so, with the message of what failed; each passed one says so.
            results = re.findall(r"(?:Passed|Failed): [^\n]{0,160}", text)
            counted = (f"{student}: expected points per test {scores}, so {sum(p == 0 for p in scores.values())} "
                       f"results 'Failed: 0 / N points. <message>' and {sum(p > 0 for p in scores.values())} "
                       f"'Passed: '; counted {len(FAILED.findall(text))} and {text.count('Passed: ')} in the page's "
                       f"text ({len(text):,} characters, read once it had loaded), whose results are:\n  "
                       + "\n  ".join(results))
            assert len(FAILED.findall(text)) == sum(points == 0 for points in scores.values()), counted
            assert text.count("Passed: ") == sum(points > 0 for points in scores.values()), counted
            # The quiz's explanations come with the results (each "Why X: ..." of the solutions).
            for why in explanations(source).values():
                assert re.split(r"[`*]", why)[0][:40] in text, why
            leaked = [line for line in hidden if line.strip() in text]
            assert not leaked, f"hidden-test lines in {student}'s feedback: {leaked[:5]}"
    finally:
        browser.close()
        playwright.stop()


def _typed(classroom, page, step: str, command: str, timeout: float = 600) -> str:
    """``command`` typed into the instructor's JupyterLab terminal in ``page``, from the course folder; what it
    printed (kept in a file beside the course, whose last line the shell writes once the command is done)."""
    log = classroom.course.parent / f".walk-{step}.log"
    page.click(".jp-Terminal .xterm-screen")
    page.keyboard.type(f"cd ~/{COURSE_ID} && {command} > {log} 2>&1; echo exit=$? >> {log}\n")
    deadline = time.monotonic() + timeout
    while not (log.is_file() and "exit=" in log.read_text()):
        assert time.monotonic() < deadline, f"{command} did not finish in {timeout} s"
        time.sleep(1)
    text = log.read_text()
    assert text.rstrip().endswith("exit=0"), text[-3000:]
    return text


def _frame_text(page, expected: str, timeout: float = 60) -> str:
    """The whole text of the frame (JupyterLab's HTML viewer) that shows ``expected``, once its page has loaded.

    Not as soon as ``expected`` shows: Chromium parses a page in slices, and on a busy machine the score at the top
    of a feedback page shows while the results below it are still to come (a count of them came out short)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                text = frame.inner_text("body", timeout=1000)
                if expected in text and frame.evaluate("document.readyState") == "complete":
                    return frame, frame.inner_text("body", timeout=1000)
            except Exception:  # a frame still loading, or gone
                continue
        page.wait_for_timeout(500)
    raise AssertionError(f"no frame shows {expected!r} loaded; frames: {[f.url for f in page.frames]}")


def _course(classroom):
    from course_grader.course import load_course

    return load_course(classroom.course / "grader" / "nbgrader_config.py")


# -- security: what a student tries ---------------------------------------------------------------------
def _student_submits(classroom, student: str, content: str | None = None):
    """Stock nbgrader, as the student: fetch (once) and submit ~/LESSON."""
    home = Path(pwd.getpwnam(student).pw_dir)
    if not (home / LESSON).is_dir():
        classroom.run_as(student, str(classroom.bin / "nbgrader"), "fetch_assignment", LESSON, "--course", COURSE_ID)
    if content is not None:
        nb = nbformat.read(home / LESSON / f"{LESSON}.ipynb", as_version=4)
        nb.cells[0].source = content
        classroom.write_answers(student, nb)
    return classroom.run_as(student, str(classroom.bin / "nbgrader"), "submit", LESSON, "--course", COURSE_ID)


def test_a_student_reads_no_one_elses_work_and_not_the_course(classroom):
    classroom.instructor("publish", LESSON)
    _student_submits(classroom, OTHER)
    secrets = [classroom.exchange / "inbound",                                          # others' submissions
               Path(pwd.getpwnam(RIGHT).pw_dir),                                        # another's home
               classroom.course / "solutions" / LESSON / f"{LESSON}.ipynb",             # solutions, hidden tests
               classroom.course / "grader" / "gradebook.db",
               ROOT / "solutions" / LESSON / f"{LESSON}.ipynb",                        # this checkout's
               ROOT / "grader" / "nbgrader_config.py",
               ROOT / "tests" / "wrong_answers" / "l03_replacing_the_head.py",
               classroom.directory / "accounts.csv", classroom.directory / "hub" / "api_token"]
    for path in secrets:
        command = ["ls", str(path)] if path.is_dir() else ["cat", str(path)]
        result = classroom.run_as(OTHER, *command, check=False)
        assert result.returncode != 0 and "Permission denied" in result.stderr, f"{OTHER} could read {path}"
    # What students need stays readable: the released lesson and the course's package.
    classroom.run_as(OTHER, "ls", str(classroom.exchange / "outbound" / LESSON))
    classroom.run_as(OTHER, str(classroom.bin / "python"), "-c", "import finetune_course, torch")
    # ... and no one but the instructor can rename the course's folder in the exchange away.
    moved = classroom.run_as(OTHER, "mv", str(classroom.exchange), str(classroom.exchange) + "-mine", check=False)
    assert moved.returncode != 0 and classroom.exchange.is_dir()


def test_a_student_cannot_open_the_formgrader(classroom):
    token = classroom.api.start(OTHER)
    own = classroom.api.request("GET", f"{classroom.url}/user/{OTHER}/formgrader", token,
                                host=classroom.api.host(OTHER))
    assert own[0] == 404
    theirs = classroom.api.request("GET", f"{classroom.url}/user/{INSTRUCTOR}/formgrader", token,
                                   host=classroom.api.host(INSTRUCTOR))
    assert theirs[0] == 403, theirs
    api = classroom.api.request("GET", f"{classroom.url}/user/{INSTRUCTOR}/formgrader/api/assignments", token,
                                host=classroom.api.host(INSTRUCTOR))
    assert api[0] == 403, api


def test_collect_takes_no_forged_or_linked_submission(classroom):
    classroom.instructor("publish", LESSON)
    inbound = classroom.exchange / "inbound"
    solution = classroom.course / "solutions" / LESSON / f"{LESSON}.ipynb"
    stamp = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    home = Path(pwd.getpwnam(OTHER).pw_dir)
    _student_submits(classroom, OTHER, content="# alan's own work")
    released = classroom.exchange / "outbound" / LESSON / f"{LESSON}.ipynb"
    script = (f"set -e; cd {inbound}; "
              # in RIGHT's name, with a later time to win
              f"mkdir '{RIGHT}+{LESSON}+{stamp}+forged'; cp {released} '{RIGHT}+{LESSON}+{stamp}+forged/'; "
              # a link to the instructor's solutions, as a submission of OTHER's own
              f"ln -s {solution.parent} '{OTHER}+{LESSON}+{stamp}+link'; "
              # a submission of OTHER's whose notebook is a link to the solution
              f"mkdir '{OTHER}+{LESSON}+{stamp}+inner'; ln -s {solution} '{OTHER}+{LESSON}+{stamp}+inner/{LESSON}.ipynb'")
    classroom.run_as(OTHER, "bash", "-c", script, cwd=home)
    got = classroom.instructor("collect", "--exchange", "--lesson", LESSON).stdout
    assert f"claims to be {RIGHT}'s but belongs to {OTHER}" in got, got
    assert "a symbolic link" in got and "not followed" in got, got
    submitted = classroom.course / "grader" / "submitted"
    forged = submitted / RIGHT / LESSON / f"{LESSON}.ipynb"
    assert not forged.exists() or "alan" not in forged.read_text()
    solution_text = solution.read_text()
    for path in (submitted / OTHER).rglob("*"):
        assert path.is_dir() or (not path.is_symlink() and path.read_text() != solution_text), path
    # The link submission was the latest; it is refused, and the student's real submission is still theirs.
    mine = nbformat.read(submitted / OTHER / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert mine.cells[0].source == "# alan's own work"


def test_nothing_is_lost_when_two_submit_in_the_same_second_or_one_submits_twice(classroom):
    classroom.instructor("publish", LESSON)
    for student in (RIGHT, WRONG):
        home = Path(pwd.getpwnam(student).pw_dir)
        if not (home / LESSON).is_dir():
            classroom.run_as(student, str(classroom.bin / "nbgrader"), "fetch_assignment", LESSON, "--course",
                             COURSE_ID)
    results = {}

    def submit(student, text):
        results[student] = _student_submits(classroom, student, content=text)

    threads = [threading.Thread(target=submit, args=(s, f"# {s}, first")) for s in (RIGHT, WRONG)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _student_submits(classroom, WRONG, content=f"# {WRONG}, second")
    got = classroom.instructor("collect", "--exchange", "--lesson", LESSON).stdout
    submitted = classroom.course / "grader" / "submitted"
    first = nbformat.read(submitted / RIGHT / LESSON / f"{LESSON}.ipynb", as_version=4)
    second = nbformat.read(submitted / WRONG / LESSON / f"{LESSON}.ipynb", as_version=4)
    assert first.cells[0].source == f"# {RIGHT}, first", got
    assert second.cells[0].source == f"# {WRONG}, second", got
    assert re.search(rf"an earlier submission of {WRONG}/{LESSON}", got), got
