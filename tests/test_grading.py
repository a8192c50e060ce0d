"""The instructor's grading pipeline, end to end, on a small fixture course.

The fixture course (tests/grading_fixture.py) is graded in one batch with good, blank, wrong,
late and every kind of bad submission the pipeline must survive, and ends in a CSV compared
with what it must say. The real course, with the wrong-answer suite, is in
test_course_grading.py.
"""

import html
import json
import re
import socket
import sqlite3
import subprocess
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grading_fixture as fx  # noqa: E402
import simulate

from course_grader import workflow  # noqa: E402
from course_grader.course import GradingError, load_course  # noqa: E402
from course_grader.jobs import batch
from course_grader.kernel import sandbox
from finetune_course.bundle import bundle  # noqa: E402
from finetune_course.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
LIMITS = sandbox.Limits(cell_seconds=10, notebook_seconds=45)
DUE = "2026-12-01 12:00:00 UTC"


def gradebook_rows(course, exclude_student=None):
    """Every row of every gradebook table, except those belonging to one student's submissions."""
    path = course.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        rows = {t: sorted(map(repr, db.execute(f"select * from {t}"))) for t in tables}
        if exclude_student:
            mine = {r[0] for r in db.execute("select id from submitted_assignment where student_id = ?",
                                             (exclude_student,))}
            notebooks = {r[0] for r in db.execute("select id from submitted_notebook where assignment_id in "
                                                  f"({','.join('?' * len(mine))})", tuple(mine))}
            drop = mine | notebooks | {exclude_student}
            rows = {t: [r for r in rs if not any(repr(d) in r for d in drop)] for t, rs in rows.items()}
    return rows


# -- the fixture course: every bad submission in one batch with good ones -------------------
@pytest.fixture(scope="module")
def fixture_class(tmp_path_factory, bwrap):
    root = tmp_path_factory.mktemp("fixture_course")
    course = fx.make_course(root)
    (course.grader / workflow.DUE_DATES).write_text(json.dumps({fx.LESSON: DUE}))
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    server = socket.create_server(("127.0.0.1", 0))  # what the "escape" student tries to reach
    for kind in fx.EXPECTED:
        folder = course.submitted / kind / fx.LESSON
        folder.mkdir(parents=True)
        name = "answers.ipynb" if kind == "wrong_name" else f"{fx.LESSON}.ipynb"
        data = fx.submission("good" if kind == "wrong_name" else kind, released, root=str(root),
                             port=server.getsockname()[1])
        (folder / name).write_bytes(data)
        stamp = "2026-12-01 13:00:00.000000 UTC" if kind == "late" else "2026-11-30 09:00:00.000000 UTC"
        (folder / "timestamp.txt").write_text(stamp)
    try:
        reports = batch.autograde(course, jobs=2, limits=LIMITS, progress=lambda line: None)
    finally:
        server.close()
    return course, {r.student: r for r in reports}


def test_every_submission_gets_exactly_the_points_it_earned(fixture_class):
    course, reports = fixture_class
    assert sorted(reports) == sorted(fx.EXPECTED)
    for student, expected in fx.EXPECTED.items():
        got = {name: cell["score"] for name, cell in reports[student].cells.items()}
        assert got == expected, f"{student}: {got} (reasons: {reports[student].reasons})"
        assert reports[student].score == sum(expected.values())


def test_bad_submissions_say_why_and_good_ones_say_nothing(fixture_class):
    course, reports = fixture_class
    clean = {"good", "late", "blank", "wrong_answer", "escape", "rebinds_name", "warns", "claims_credit"}  # its tests use what the lesson imported
    for student, report in reports.items():
        if student in clean:
            assert report.reasons == [], f"{student}: {report.reasons}"
        else:
            assert report.reasons, f"{student} lost points or broke a rule but no reason was recorded"
    assert reports["infinite_loop"].reasons == ["square: interrupted after 10 s"]
    assert "kernel died" in reports["kernel_crash"].reasons[0]
    assert reports["memory_blowup"].reasons[0].startswith("mean: MemoryError")
    assert "your code replaced math.isclose, which the tests use" in reports["monkeypatch"].reasons[0]
    assert "output beyond" not in json.dumps(asdict(reports["good"])) and "dropped" in reports["huge_output"].reasons[0]
    assert not (course.root / "escaped.txt").exists(), "student code wrote into the course folder"
    autograded = nbformat.read(course.autograded / "huge_output" / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    assert len(nbformat.writes(autograded)) < 2_000_000, "huge output went into the autograded notebook"




def test_the_batch_exports_the_expected_csv(fixture_class, tmp_path):
    course, _ = fixture_class
    assert workflow.export_csv(course, tmp_path / "grades.csv").read_text() == fx.EXPECTED_CSV


def test_regrading_changes_nothing_and_touches_only_the_regraded_student(fixture_class):
    course, reports = fixture_class
    before = gradebook_rows(course)
    batch.autograde(course, students=["good", "kernel_crash"], jobs=2, limits=LIMITS, progress=lambda line: None)
    assert gradebook_rows(course) == before, "re-grading the same submissions changed the gradebook"
    others = gradebook_rows(course, exclude_student="kernel_crash")
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    (course.submitted / "kernel_crash" / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(fx.submission("good", released))
    [report] = batch.autograde(course, students=["kernel_crash"], jobs=1, limits=LIMITS, progress=lambda line: None)
    assert report.score == 5 and report.reasons == []
    assert gradebook_rows(course, exclude_student="kernel_crash") == others
    (course.submitted / "kernel_crash" / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(
        fx.submission("kernel_crash", released))
    batch.autograde(course, students=["kernel_crash"], jobs=1, limits=LIMITS, progress=lambda line: None)
    assert gradebook_rows(course) == before


def html_text(page: str) -> str:
    """The text a browser shows: code is split into highlighted spans, so tags go before searching it."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_feedback_shows_each_result_and_no_hidden_test(fixture_class):
    course, reports = fixture_class
    files = workflow.feedback(course)
    graded = sorted(s for s, r in reports.items() if r.status != "rejected")
    assert sorted(f.parts[-3] for f in files) == graded
    text = {f.parts[-3]: html_text(f.read_text()).lower() for f in files}
    assert "5.0 / 5.0" in text["good"] and text["good"].count("passed: ") == 3
    assert "square squares numbers. (score: 2.0 / 2.0)" in text["good"]  # the table of contents names each test
    with zipfile.ZipFile(course.grader / "exports" / "feedback" / "good.zip") as z:
        assert z.namelist() == [f"{fx.LESSON}/{fx.LESSON}.html"]
    hidden = ["assert seen.at_minus_4 == 16", "assert math.isclose(seen.mean, 0.375)", "assert seen.answer == 42",
              "observe(at_minus_4=square(-4))"]
    given = [f.read_text() for f in files]
    for archive in (course.grader / "exports" / "feedback").glob("*.zip"):
        with zipfile.ZipFile(archive) as z:
            given += [z.read(name).decode() for name in z.namelist()]
    for page in given:
        shown = html_text(page)
        assert not [line for line in hidden if line in shown], "a hidden test reached a student's feedback"
        assert "BEGIN HIDDEN" not in shown  # tracebacks may show, of the student's own cells only
    assert "failed: 0 / 1 point. a hidden check failed" in text["wrong_answer"]
    assert "passed: 2 / 2 points." in text["wrong_answer"]
    assert "the exercise this test checks is not done yet" in text["blank"]
    assert "could not find a name" in text["blank"]  # test_answer: `answer` was never defined
    assert "your code replaced math.isclose, which the tests use" in text["monkeypatch"]
    assert text["rebinds_name"].count("passed: ") == 3  # its tests use the statistics module the lesson imported
    assert "not run: the kernel died in cell mean" in text["kernel_crash"]


def test_without_the_sandbox_the_escape_succeeds_so_the_sandbox_is_what_stops_it(tmp_path):
    course = fx.make_course(tmp_path)
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    with socket.create_server(("127.0.0.1", 0)) as server:
        for kind in ("good", "escape"):
            folder = course.submitted / kind / fx.LESSON
            folder.mkdir(parents=True)
            (folder / f"{fx.LESSON}.ipynb").write_bytes(
                fx.submission(kind, released, root=str(tmp_path), port=server.getsockname()[1]))
        reports = batch.autograde(course, jobs=2, use_sandbox=False, limits=LIMITS, progress=lambda line: None)
    assert [(r.student, r.score) for r in reports] == [("escape", 4), ("good", 5)]
    assert (tmp_path / "escaped.txt").exists()


def test_ctrl_c_stops_every_job_and_a_second_batch_waits_for_the_first(tmp_path, bwrap):
    import fcntl
    import signal
    import time

    course = fx.make_course(tmp_path)
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    for student in ("loop1", "loop2"):
        (course.submitted / student / fx.LESSON).mkdir(parents=True)
        (course.submitted / student / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(
            fx.submission("infinite_loop", released))
    course.work.mkdir(parents=True)
    with open(course.work / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(GradingError, match="another autograde of this course is running"):
            batch.autograde(course, progress=lambda line: None)
    command = [str(BIN / "finetune-course"), "grade", "--config", str(course.config_file), "autograde",
               "--cell-timeout", "60"]
    # As from a terminal: a test run started in the background (`cmd &` in a script) inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        while not list(course.work.glob("*/kernel/connection.json")) and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # the kernels are running the loops
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert "interrupted" in out, out[-2000:]
        time.sleep(1)
        left = subprocess.run(["pgrep", "-f", str(course.work)], capture_output=True, text=True).stdout.split()
        assert left == [], f"worker or kernel processes left running: {left}"
    finally:
        process.kill()
        subprocess.run(["pkill", "-KILL", "-f", str(course.work)])  # only if the test failed


def test_grading_refuses_a_course_that_was_not_released(tmp_path, bwrap):
    course = fx.make_course(tmp_path)
    (course.submitted / "good" / fx.LESSON).mkdir(parents=True)
    with pytest.raises(GradingError, match="grade release"):
        batch.autograde(course, progress=lambda line: None)


def test_the_course_is_the_current_directorys_never_the_installed_packages(tmp_path, monkeypatch, capsys):
    # A second course (a second clone) graded with this environment: found from where the command runs.
    other = fx.make_course(tmp_path / "second")
    monkeypatch.chdir(other.root)
    assert load_course().root == other.root == tmp_path / "second"
    monkeypatch.chdir(other.grader)  # from inside grader/ too
    assert load_course().config_file == other.config_file
    assert main(["grade", "release"]) == 0
    assert (other.release / fx.LESSON / f"{fx.LESSON}.ipynb").is_file()
    assert not (ROOT / "lessons" / fx.LESSON).exists()
    monkeypatch.chdir(tmp_path)  # no course here: say so, and what to do
    with pytest.raises(GradingError, match=r"no course in .*: run from the course's folder .* or pass --config"):
        load_course()
    capsys.readouterr()
    assert main(["grade", "--config", str(other.config_file), "release"]) == 0
    assert main(["grade", "--config", str(tmp_path / "nowhere.py"), "release"]) == 2
    assert "no nbgrader config at" in capsys.readouterr().err


def test_every_limit_comes_from_limits(capsys):
    from course_grader.kernel.execute import GuardedExecute

    default = sandbox.Limits()
    assert default.job_seconds(2) == 2 * default.notebook_seconds + default.job_margin_seconds
    executor = GuardedExecute()
    assert (executor.notebook_timeout, executor.timeout_factor, executor.min_cell_timeout, executor.output_limit) == \
        (default.notebook_seconds, default.timeout_factor, default.min_cell_seconds, default.output_kib * 1024)
    with pytest.raises(SystemExit):
        main(["grade", "autograde", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"at most (default: {default.cell_seconds:g})" in shown
    assert f"may run (default: {default.notebook_seconds:g})" in shown and f"MiB (default: {default.memory_mib:g})" in shown


def test_without_bubblewrap_the_error_says_how_to_go_on(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(sandbox.SandboxUnavailable, match=r"apt-get install bubblewrap.*--no-sandbox"):
        sandbox.check_sandbox()


# -- collecting submissions -----------------------------------------------------------------
@pytest.fixture()
def released_fixture(tmp_path):
    course = fx.make_course(tmp_path / "course")
    workflow.release(course)
    released = nbformat.read(course.release / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    return course, nbformat.writes(fx.completed(released)).encode()


def test_collect_from_a_folder_keeps_timestamps_and_what_it_replaces(released_fixture, tmp_path):
    course, data = released_fixture
    export = tmp_path / "export"
    (export / "ann" / fx.LESSON).mkdir(parents=True)
    (export / "ann" / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(data)
    (export / "ann" / fx.LESSON / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    (export / "notes.txt").write_text("not a submission")
    got = workflow.collect(course, export)
    assert got.imported == [f"ann/{fx.LESSON}/{fx.LESSON}.ipynb"]
    assert (course.submitted / "ann" / fx.LESSON / "timestamp.txt").read_text().startswith("2026-12-01 10:00:00")
    assert workflow.collect(course, export).unchanged == [f"ann/{fx.LESSON}/{fx.LESSON}.ipynb"]
    (export / "ann" / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(data.replace(b"42", b"43"))
    got = workflow.collect(course, export)
    assert got.replaced == [f"ann/{fx.LESSON}/{fx.LESSON}.ipynb"]
    [kept] = (course.grader / "submitted_previous").glob(f"*/ann/{fx.LESSON}/{fx.LESSON}.ipynb")
    assert kept.read_bytes() == data, "the replaced submission must be kept"


def test_collect_from_canvas_and_moodle_zips(released_fixture, tmp_path):
    course, data = released_fixture
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as z:
        z.writestr(zipfile.ZipInfo("doejane_123_456_fixture.ipynb", (2026, 11, 30, 9, 0, 0)), data)
        z.writestr(zipfile.ZipInfo("smithbob_late_124_457_fixture-1.ipynb", (2026, 12, 2, 9, 0, 0)), data)
        z.writestr("readme.html", "x")
    got = workflow.collect(course, canvas, lesson=fx.LESSON, lms="canvas")
    assert got.imported == [f"doejane/{fx.LESSON}/fixture.ipynb", f"smithbob/{fx.LESSON}/fixture.ipynb"]
    assert (course.submitted / "smithbob" / fx.LESSON / "timestamp.txt").read_text().startswith("2026-12-02 09:00")
    moodle = tmp_path / "moodle.zip"
    with zipfile.ZipFile(moodle, "w") as z:
        z.writestr("Jane Doe_77_assignsubmission_file_/fixture.ipynb", data)
    got = workflow.collect(course, moodle, lesson=fx.LESSON, lms="moodle")
    assert got.imported == [f"jane-doe/{fx.LESSON}/fixture.ipynb"]
    with pytest.raises(GradingError, match="with --lesson"):
        workflow.collect(course, moodle, lms="moodle")
    with pytest.raises(GradingError, match="no submissions found"):
        workflow.collect(course, canvas)


# -- what students get and run --------------------------------------------------------------
def test_student_bundle_holds_no_solution_hidden_test_or_grader_file(tmp_path):
    course = load_course()
    path = bundle(course.root, tmp_path / "bundle.zip")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        texts = {n: z.read(n).decode("utf-8", "replace") for n in names if not n.endswith((".pt", ".png"))}
    top = {n.split("/")[1] for n in names}
    assert top == {"README.md", "pyproject.toml", "environment.yml", "Makefile", "lessons", "src", "jupyter", "docs"}
    assert not [n for n in names if "/solutions/" in n or "/grader/" in n or "/course_grader/" in n or "/tests/" in n
                or "/src/classroom/" in n]
    assert "finetune-course/src/finetune_course/checkpoints/resnet18_shapes_v1.pt" in names
    lessons = [n for n in names if n.endswith(".ipynb")]
    assert len(lessons) == len(course.lessons()) and all(n.startswith("finetune-course/lessons/") for n in lessons)
    secret = simulate.secret_lines(course)  # solution and hidden-test lines no released lesson shows anyway
    assert len(secret) > 50
    # The helper package is, by design, the reference implementation of the helpers the lessons
    # teach (freeze_all, replace_head...): exercise solution lines may appear in src/; quiz
    # answers and hidden tests may appear nowhere.
    leaks = [(lesson, region, line, name) for lesson, region, line in secret for name, text in texts.items()
             if (line in text or json.dumps(line)[1:-1] in text)
             and not (region == "SOLUTION" and not line.startswith("answer_q") and "/src/" in name)]
    assert leaks == []


def test_check_command_passes_a_completed_lesson_and_fails_an_untouched_one(released_fixture, tmp_path):
    course, data = released_fixture
    done = tmp_path / "done.ipynb"
    done.write_bytes(data)
    run = [str(BIN / "finetune-course"), "check"]
    ok = subprocess.run(run + [str(done)], capture_output=True, text=True)
    assert ok.returncode == 0 and "3 of 3 tests pass: ready to submit" in ok.stdout, ok.stdout + ok.stderr
    blank = subprocess.run(run + [str(course.release / fx.LESSON / f"{fx.LESSON}.ipynb")], capture_output=True,
                           text=True)
    assert blank.returncode == 1 and "0 of 3 tests pass" in blank.stdout and "FAIL  square squares" in blank.stdout


def test_the_grader_imports_nothing_from_the_course_it_grades(tmp_path):
    # It grades any nbgrader course: every one of its modules imports with finetune_course unimportable.
    blocker = tmp_path / "finetune_course" / "__init__.py"
    blocker.parent.mkdir()
    blocker.write_text("raise ImportError('the grader imported the course package')\n")
    import course_grader

    package = Path(course_grader.__file__).parent
    modules = sorted(".".join(p.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
                     for p in package.rglob("*.py") if p.stem != "__main__")
    code = "import importlib\nfor m in %r:\n    importlib.import_module('course_grader.' + m)\n" % modules
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(tmp_path), "PATH": str(BIN)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(modules) >= 25 and "kernel.warden" in modules and "results.render" in modules


def test_calibration_times_every_code_cell_of_the_solution_and_grades_no_one(released_fixture, bwrap):
    from course_grader.jobs.calibrate import calibrate
    from course_grader.kernel.execute import cell_key

    course, _ = released_fixture
    times = calibrate(course, jobs=1)
    source = nbformat.read(course.source / fx.LESSON / f"{fx.LESSON}.ipynb", as_version=4)
    keys = {cell_key(c) for c in source.cells if c.cell_type == "code"}
    assert set(times[fx.LESSON]) == keys and all(0 < t < 10 for t in times[fx.LESSON].values())
    assert json.loads((course.grader / "cell_times.json").read_text()) == times
    assert not (course.submitted / "calibration").exists() and not (course.reports / fx.LESSON).exists()


# -- collecting: platform exports through nbgrader's zip_collect plugins ---------------------
def test_collect_keeps_the_latest_resubmission_and_reads_moodle_without_folders(released_fixture, tmp_path):
    course, data = released_fixture
    canvas = tmp_path / "canvas.zip"
    with zipfile.ZipFile(canvas, "w") as z:
        z.writestr(zipfile.ZipInfo("doejane_123_456_fixture.ipynb", (2026, 11, 30, 9, 0, 0)), data)
        z.writestr(zipfile.ZipInfo("doejane_late_123_789_fixture-2.ipynb", (2026, 12, 2, 9, 0, 0)),
                   data.replace(b"42", b"43"))
        z.writestr(zipfile.ZipInfo("__MACOSX/._doejane_123_456_fixture.ipynb", (2026, 11, 30, 9, 0, 0)), b"x")
        z.writestr("Jane Doe.ipynb", data)
    got = workflow.collect(course, canvas, lesson=fx.LESSON, lms="canvas")
    assert got.imported == [f"doejane/{fx.LESSON}/fixture.ipynb"]
    assert got.skipped == ["Jane Doe.ipynb: not a canvas submission file name",
                           f"doejane_123_456_fixture.ipynb: an earlier submission of doejane/{fx.LESSON}/fixture.ipynb "
                           "than doejane_late_123_789_fixture-2.ipynb"]
    assert b"43" in (course.submitted / "doejane" / fx.LESSON / "fixture.ipynb").read_bytes()
    assert (course.submitted / "doejane" / fx.LESSON / "timestamp.txt").read_text().startswith("2026-12-02 09:00")
    moodle = tmp_path / "moodle.zip"  # "download submissions in folders" off: one flat name per file
    with zipfile.ZipFile(moodle, "w") as z:
        z.writestr("Ann-Marie O'Neil_78_assignsubmission_file_fixture.ipynb", data)
    assert workflow.collect(course, moodle, lesson=fx.LESSON, lms="moodle").imported == \
        [f"ann-marie-o-neil/{fx.LESSON}/fixture.ipynb"]
    with pytest.raises(GradingError, match="--lms must be one of canvas, moodle"):
        workflow.collect(course, moodle, lesson=fx.LESSON, lms="blackboard")
    with pytest.raises(GradingError, match="neither a folder nor a zip file"):
        workflow.collect(course, tmp_path / "nowhere.zip")


def test_collect_from_a_zip_prefers_timestamp_files_and_sets_aside_the_time_it_replaces(released_fixture, tmp_path):
    course, data = released_fixture
    first = tmp_path / "first.zip"
    with zipfile.ZipFile(first, "w") as z:
        z.writestr(zipfile.ZipInfo(f"export/ann/{fx.LESSON}/{fx.LESSON}.ipynb", (2026, 12, 5, 9, 0, 0)), data)
        z.writestr(f"export/ann/{fx.LESSON}/timestamp.txt", "2026-12-01 10:00:00 UTC")
        z.writestr(zipfile.ZipInfo(f"export/bo/{fx.LESSON}/{fx.LESSON}.ipynb", (2026, 12, 3, 8, 30, 0)), data)
    assert workflow.collect(course, first).imported == [f"ann/{fx.LESSON}/{fx.LESSON}.ipynb",
                                                        f"bo/{fx.LESSON}/{fx.LESSON}.ipynb"]
    stamps = {s: (course.submitted / s / fx.LESSON / "timestamp.txt").read_text() for s in ("ann", "bo")}
    assert stamps["ann"].startswith("2026-12-01 10:00:00") and stamps["bo"].startswith("2026-12-03 08:30:00")
    again = tmp_path / "again"  # a folder, no timestamp.txt: no time is known, so the old one must not stay
    (again / "ann" / fx.LESSON).mkdir(parents=True)
    (again / "ann" / fx.LESSON / f"{fx.LESSON}.ipynb").write_bytes(data.replace(b"42", b"43"))
    assert workflow.collect(course, again).replaced == [f"ann/{fx.LESSON}/{fx.LESSON}.ipynb"]
    assert not (course.submitted / "ann" / fx.LESSON / "timestamp.txt").exists()
    [kept] = (course.grader / "submitted_previous").glob(f"*/ann/{fx.LESSON}/timestamp.txt")
    assert kept.read_text() == stamps["ann"] and (kept.parent / f"{fx.LESSON}.ipynb").read_bytes() == data


def test_stock_nbgrader_zip_collect_reads_a_canvas_export_with_our_collector(released_fixture, tmp_path):
    course, data = released_fixture
    archive = course.root / "downloaded" / fx.LESSON / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "canvas.zip", "w") as z:
        z.writestr("doejane_123_456_fixture.ipynb", data)
        z.writestr("smithbob_late_124_457_fixture-1.ipynb", data)
    done = subprocess.run([str(BIN / "nbgrader"), "zip_collect", fx.LESSON,
                           "--collector=course_grader.intake.platforms.CanvasFileNames"], cwd=course.grader,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.relative_to(course.submitted).as_posix() for p in course.submitted.glob("*/*/*.ipynb")) == \
        [f"doejane/{fx.LESSON}/fixture.ipynb", f"smithbob/{fx.LESSON}/fixture.ipynb"]


def test_without_the_grader_grade_says_it_is_not_in_the_student_bundle(tmp_path):
    blocker = tmp_path / "course_grader" / "__init__.py"  # the student bundle has no src/course_grader
    blocker.parent.mkdir()
    blocker.write_text("raise ImportError('No module named course_grader')\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(BIN), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "finetune_course", "grade", "autograde", "--jobs", "2"], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "the grading tools are not part of the student bundle" in done.stderr
    helped = subprocess.run([sys.executable, "-m", "finetune_course", "--help"], env=env, capture_output=True,
                            text=True, cwd=tmp_path)
    assert helped.returncode == 0 and "grade" in helped.stdout, helped.stderr[-2000:]


def test_feedback_quotes_a_hidden_checks_message_but_not_a_solution_line_a_student_printed():
    """A hidden assert's message may name a solution line on purpose; a student's output holding one is removed."""
    from course_grader.results.feedback import REDACTED, StudentFeedback, secret_lines
    source = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def train(optimizer):\n    ### BEGIN SOLUTION\n    optimizer.zero_grad()\n"
                                  "    ### END SOLUTION", metadata={"nbgrader": {"solution": True, "grade": False,
                                                                                  "grade_id": "train"}}),
        nbformat.v4.new_code_cell("assert True\n### BEGIN HIDDEN TESTS\nassert trained(), \\\n"
                                  "    \"the weights differ from one step per batch (optimizer.zero_grad()?)\"\n"
                                  "### END HIDDEN TESTS",
                                  metadata={"nbgrader": {"solution": False, "grade": True, "grade_id": "test_train",
                                                         "points": 2, "score": 0}})])
    secrets = secret_lines(source)
    assert "optimizer.zero_grad()" in secrets
    graded = nbformat.from_dict(json.loads(json.dumps(source)))
    graded.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="    optimizer.zero_grad()\n")]
    graded.cells[1].outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="the weights differ from one step per batch (optimizer.zero_grad()?)",
        traceback=["Cell In[2], line 3"])]
    shown, _ = StudentFeedback(secrets={"lesson": secrets}).preprocess(graded, {"nbgrader": {"notebook": "lesson"}})
    assert shown.cells[0].outputs[0]["text"] == REDACTED + "\n"  # printed by the student: removed
    result = shown.cells[1].outputs[0]["text"]
    assert result.startswith("Failed: 0 / 2 points. A hidden check failed: the weights differ from one step per batch "
                             "(optimizer.zero_grad()?)"), result
    # the same solution line in what the message formats (not its literal text) is still removed
    graded = nbformat.from_dict(json.loads(json.dumps(source)))
    graded.cells[1].outputs = [nbformat.v4.new_output("error", ename="AssertionError",
                                                      evalue="got     optimizer.zero_grad()  instead", traceback=[])]
    shown, _ = StudentFeedback(secrets={"lesson": secrets}).preprocess(graded, {"nbgrader": {"notebook": "lesson"}})
    assert shown.cells[1].outputs[0]["text"] == REDACTED + "\n"


def test_feedback_table_of_contents_names_each_test_by_what_it_checks():
    """nbgrader's template lists each test as "Test cell"; the course's exporter names it by its docstring."""
    import os

    import nbgrader
    from traitlets.config import Config

    from course_grader.results.feedback import FeedbackExporter, test_name
    assert test_name('"""square squares numbers."""\nassert square(3) == 9') == "square squares numbers."
    assert test_name("assert True") is None and test_name("def (") is None
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('"""square squares <numbers>."""\nassert square(3) == 9',
                                  metadata={"nbgrader": {"solution": False, "grade": True, "grade_id": "test_square",
                                                         "points": 2, "score": 2}}),
        nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {"solution": False, "grade": True,
                                                                       "grade_id": "test_bare", "points": 1, "score": 0}})])
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    formgrader = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader")
    config.HTMLExporter.extra_template_basedirs = [os.path.join(formgrader, "templates")]
    config.HTMLExporter.extra_template_paths = [os.path.join(formgrader, "static", "node_modules", "bootstrap", "dist", "css")]
    page, _ = FeedbackExporter(config=config).from_notebook_node(
        nb, {"nbgrader": {"notebook": "lesson", "score": 2, "max_score": 3, "late_penalty": 0}})
    toc = page[page.index('<div id="toc">'):page.index("</ol>")]
    assert '<a href="#test_square">square squares &lt;numbers&gt;.</a>' in toc, toc
    assert '<a href="#test_bare">Test cell</a>' in toc, toc  # no docstring: nbgrader's own words


def test_the_graders_groups_import_one_way():
    """Each group of course_grader imports only the groups below it (course_grader/__init__.py says which)."""
    import ast

    import course_grader

    rank = {"observe": 0, "course": 0, "judge": 1, "kernel": 2, "intake": 2, "results": 3, "jobs": 4,
            "workflow": 5, "cli": 6, "__main__": 7}
    allowed_upward = {("jobs/slurm.py", "cli")}  # a command of its own that ends in `grade autograde`
    package = Path(course_grader.__file__).parent
    wrong = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        me = relative.parts[0].removesuffix(".py")
        if me == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "course_grader":
                parts = node.module.split(".")
                names = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith("course_grader.")]
            for target in names:
                if target != me and rank.get(target, 99) >= rank[me] \
                        and (relative.as_posix(), target) not in allowed_upward:
                    wrong.append(f"{relative} imports {target}")
    assert wrong == []
