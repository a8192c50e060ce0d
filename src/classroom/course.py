"""The course on the classroom server: the instructor's own copy, nbgrader's exchange, each role's Jupyter config.

The exchange in ``DIR/exchange``: its root owned by root (1777: sticky, so that no one but its owner
can rename the course's folder away), the course's folder by the instructor, ``inbound`` writable
but not listable by students (0733, sticky). Jupyter's config per role (Assignment List and
Validate for everyone; the formgrader and course list for the instructor), in folders of root's:
user config is off in every server (``Spawner.disable_user_config``), so these are all there is.
Every kernel listens on ZeroMQ ``ipc`` sockets in its owner's runtime folder (in their home, which
only they can enter), not on loopback TCP ports anyone on the machine could connect to.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
from pathlib import Path

from classroom.accounts import chown_tree, run_as
from classroom.settings import COURSE_ID, HubError, Settings

# Every kernel a server, nbgrader's Validate or nbconvert starts: ipc, not tcp.
KERNEL_TRANSPORT = {"KernelManager": {"transport": "ipc"}}


def _config_line(name: str, value) -> str:
    return f"c.{name} = {value!r}\n"


def instructor_course(settings: Settings, bin_dir: Path) -> Path:
    """The instructor's own copy of the course (first run only), its config naming the exchange, lessons generated."""
    course = settings.instructor_course
    config = course / "grader" / "nbgrader_config.py"
    account = pwd.getpwnam(settings.instructor)
    if not config.is_file():
        course.mkdir(parents=True, exist_ok=True)
        shutil.copytree(settings.checkout / "solutions", course / "solutions", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        (course / "grader").mkdir(exist_ok=True)
        for name in ("nbgrader_config.py", "cell_times.json", "due_dates.json"):
            if (settings.checkout / "grader" / name).is_file():
                shutil.copyfile(settings.checkout / "grader" / name, course / "grader" / name)
        exchange = settings.directory / "exchange"
        with open(config, "a") as out:
            out.write("\n# Added by finetune-course hub: the classroom server's exchange, collected and released\n"
                      "# by the course's own classes (see course_grader.intake.exchange); stock autograde and\n"
                      "# generate_feedback stop and name the course's commands instead.\n")
            out.write(_config_line("Exchange.root", str(exchange)))
            out.write(_config_line("ExchangeFactory.collect", "course_grader.intake.exchange.SafeCollect"))
            out.write(_config_line("ExchangeFactory.release_assignment", "course_grader.intake.exchange.SafeReleaseAssignment"))
            out.write(_config_line("Autograde.autograde_preprocessors", ["course_grader.intake.exchange.UseCourseGrader"]))
            out.write(_config_line("GenerateFeedback.preprocessors", ["course_grader.intake.exchange.UseCourseGrader"]))
        chown_tree(course, account.pw_uid, account.pw_gid)
        course.chmod(0o700)
    if not (course / "lessons").is_dir():  # released below, once: the gradebook is the instructor's from then on
        run_as(settings.instructor, [str(bin_dir / "finetune-course"), "grade", "release"], cwd=course, bin_dir=bin_dir)
    return course


def exchange(settings: Settings) -> Path:
    """nbgrader's exchange: its root root's (1777: nbgrader wants it writable, the sticky bit keeps the course's
    folder from being renamed away by anyone else), the course's folder the instructor's, inbound 0733 + sticky."""
    root = settings.directory / "exchange"
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o1777)
    account = pwd.getpwnam(settings.instructor)
    course = root / COURSE_ID
    for folder, mode in ((course, 0o755), (course / "outbound", 0o755), (course / "inbound", 0o3733),
                         (course / "feedback", 0o711)):
        if os.path.lexists(folder):
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, account.pw_uid):
                raise HubError(f"{folder} is not a folder of the instructor's (it may have been planted there): "
                               "remove it, then run again")
        folder.mkdir(exist_ok=True)
        os.lchown(folder, account.pw_uid, account.pw_gid)
        folder.chmod(mode)
    return root


def jupyter_config(settings: Settings) -> dict[str, Path]:
    """Per role: JUPYTER_CONFIG_PATH folder with the server's extensions, JupyterLab's plugins and nbgrader's config."""
    exchange = settings.directory / "exchange"
    folders = {}
    for role in ("student", "instructor"):
        folder = settings.directory / "jupyter" / role
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        instructor = role == "instructor"
        (folder / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": instructor,
            "nbgrader.server_extensions.course_list": instructor,
            "nbgrader.server_extensions.assignment_list": True,
            "nbgrader.server_extensions.validate_assignment": True,
            "jupyter_server_proxy": False, "classroom.serverext": True}}, **KERNEL_TRANSPORT}, indent=1))
        # Every Jupyter application (nbconvert, nbgrader's commands in a terminal) reads jupyter_config too.
        (folder / "jupyter_config.json").write_text(json.dumps(KERNEL_TRANSPORT, indent=1))
        disabled = {"@jupyterlab/apputils-extension:announcements": True,
                    "@jupyter/nbgrader:create-assignment": True}
        if not instructor:
            disabled.update({"@jupyter/nbgrader:formgrader": True, "@jupyter/nbgrader:course-list": True})
        (folder / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": disabled}, indent=1))
        lines = ["# Written by finetune-course hub.\n", "import os\n", "c = get_config()  # noqa: F821\n",
                 "# Lessons are fetched into the home (the server's root), wherever nbgrader runs from.\n",
                 "c.Exchange.assignment_dir = os.path.expanduser('~')\n"]
        if instructor:
            lines.append(f"load_subconfig({str(settings.instructor_course / 'grader' / 'nbgrader_config.py')!r})  "
                         "# noqa: F821\n")
            # The formgrader's view of a submission: sanitised, with a Content-Security-Policy (not in the course's
            # own config, which stock generate_feedback would read too).
            lines.append("from course_grader.results.render import configure_formgrader  # noqa: E402\n")
            lines.append("configure_formgrader(c)\n")
        lines += [_config_line("CourseDirectory.course_id", COURSE_ID), _config_line("Exchange.root", str(exchange)),
                  _config_line("KernelManager.transport", "ipc")]
        if not instructor:  # nbgrader's submit leaves out larger files (the collect step bounds the rest)
            lines.append(_config_line("CourseDirectory.max_file_size", settings.limits.submission_mib * 1024))
        (folder / "nbgrader_config.py").write_text("".join(lines))
        for path in (folder, folder / "labconfig", *folder.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        folders[role] = folder
    return folders



def record_names(settings: Settings, names: dict[str, tuple[str, str | None]]) -> None:
    """The students, with the full names the roster gives, in the instructor's gradebook: the formgrader and the
    exports show them (nbgrader would add each at collect as "None, None")."""
    from nbgrader.api import Gradebook

    database = settings.instructor_course / "grader" / "gradebook.db"
    if not database.is_file():
        return
    account = pwd.getpwnam(settings.instructor)
    with Gradebook(f"sqlite:///{database}") as gradebook:
        for student in settings.students:
            first, last = names.get(student, (None, None))
            gradebook.update_or_create_student(student, first_name=first, last_name=last)
    for path in database.parent.glob("gradebook.db*"):
        os.chown(path, account.pw_uid, account.pw_gid)
