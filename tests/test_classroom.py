"""The classroom server's package on its own (no root, no hub started): where it sits, what its config says.

The running hub is tested in test_hub.py (a lesson from release to feedback) and test_hub_rooms.py
(a student's attacks); these check what needs no accounts: that the course's and the grader's
packages never import the classroom's, that ``finetune-course hub`` comes from it, and the config
the hub writes for a machine that systemd runs (not one of these machines: see docs/classroom-server.md).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from traitlets.config import Config

from classroom import hubconfig
from classroom.isolation import Machine
from classroom.settings import HubError, PersonLimits, Settings

ROOT = Path(__file__).resolve().parents[1]


def _imports(folder: Path) -> dict[str, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_course_and_the_grader_never_import_the_classroom_server():
    for package in ("finetune_course", "course_grader"):
        users = [path for path, names in _imports(ROOT / "src" / package).items() if "classroom" in names]
        assert not users, f"{package} imports classroom in {users}"
    # ... while the classroom server uses the grader's exchange classes by name in the instructor's config.
    assert "course_grader.intake.exchange.SafeCollect" in (ROOT / "src" / "classroom" / "course.py").read_text()


def test_the_hub_command_comes_from_the_classroom_package_by_entry_point():
    result = subprocess.run([str(Path(sys.executable).parent / "finetune-course"), "hub", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--domain" in result.stdout and "--memory" in result.stdout, result.stderr
    result = subprocess.run([str(Path(sys.executable).parent / "finetune-course"), "hub", "--memory", "0"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--memory must be more than 0" in result.stderr


def test_origins_per_person_by_default_on_loopback_and_only_with_a_domain_elsewhere(tmp_path):
    roster = tmp_path / "roster.csv"
    assert Settings(roster=roster).subdomain_host == "localhost"
    assert Settings(roster=roster).url == "http://localhost:8000/"
    assert Settings(roster=roster, ip="0.0.0.0").subdomain_host is None
    named = Settings(roster=roster, ip="0.0.0.0", domain="hub.example.edu", port=443, ssl_cert="c", ssl_key="k")
    assert named.subdomain_host == "hub.example.edu" and named.url == "https://hub.example.edu/"


def _written_config(tmp_path, machine: Machine) -> tuple[Config, dict]:
    settings = Settings(roster=tmp_path / "roster.csv", directory=tmp_path / "hub", instructor="root",
                        students=["ada"], limits=PersonLimits(memory_mib=1536, cpus=1.5, processes=300))
    settings.directory.mkdir()
    path = hubconfig.write(settings, Path(sys.executable).parent, {"student": tmp_path, "instructor": tmp_path},
                           "configurable-http-proxy", machine)
    assert path.stat().st_mode & 0o777 == 0o600  # holds the service token's path and the limits: root's
    config = Config()
    namespace = {"get_config": lambda: config}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return config, namespace


class _Spawner:
    def __init__(self, name):
        self.user = type("User", (), {"name": name})()
        self.environment = {}


def test_where_systemd_runs_the_machine_each_server_is_a_unit_with_the_persons_limits(tmp_path):
    pytest.importorskip("systemdspawner", reason="pip install -e '.[hub]' installs jupyterhub-systemdspawner")
    from systemdspawner import SystemdSpawner

    config, namespace = _written_config(tmp_path, Machine(systemd=True))
    assert config.JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
    for name in ("isolate_tmp", "isolate_devices", "disable_user_sudo"):
        assert config.SystemdSpawner[name] is True and name in SystemdSpawner.class_traits()
    assert config.Spawner.disable_user_config is True
    assert config.JupyterHub.subdomain_host == "http://localhost:8000"
    student, teacher = _Spawner("ada"), _Spawner("root")
    config.Spawner.pre_spawn_hook(student)
    config.Spawner.pre_spawn_hook(teacher)
    assert student.mem_limit == 1536 << 20 and student.cpu_limit == 1.5
    assert student.unit_extra_properties == {"TasksMax": "300", "ProtectProc": "invisible",
                                             "LimitFSIZE": str(512 << 20)}
    assert teacher.mem_limit == hubconfig.INSTRUCTOR_LIMITS.memory_mib << 20
    assert student.environment["PYTHONNOUSERSITE"] == "1"
    for name in ("mem_limit", "cpu_limit", "unit_extra_properties"):
        assert name in SystemdSpawner.class_traits()


def test_elsewhere_the_course_spawner_gets_the_cgroups_and_namespaces_found(tmp_path):
    machine = Machine(cgroups="v1", cgroup_parents={"memory": Path("/sys/fs/cgroup/memory/x")}, namespaces=True)
    config, _ = _written_config(tmp_path, machine)
    assert config.JupyterHub.spawner_class.__name__ == "CourseSpawner"
    assert config.CourseSpawner.cgroup_parents == {"memory": "/sys/fs/cgroup/memory/x"}
    assert config.CourseSpawner.namespaces is True
    assert config.CourseSpawner.limits["student"]["memory_mib"] == 1536
    assert config.CourseSpawner.roles == {"root": "instructor"}


def test_the_start_report_says_what_is_missing():
    bare = Machine(problems=["no writable memory, cpu and pids cgroups (v1 or v2): ..."])
    lines = "\n".join(bare.report(PersonLimits()))
    assert "not in force: no writable memory, cpu and pids cgroups" in lines
    assert "a student can fill the disk" in lines
    assert "limits per person" not in lines and "private /tmp" not in lines
    full = "\n".join(Machine(cgroups="v2", namespaces=True, quotas=["/home"]).report(PersonLimits()))
    assert "limits per person (cgroups v2): memory 2048 MiB" in full and "quotas: 4096 MiB per person on /home" in full
    assert "not in force" not in full


@pytest.mark.skipif(os.geteuid() != 0, reason="finding cgroups and namespaces to use needs root")
def test_this_machine_offers_cgroups_and_namespaces_to_root():
    from classroom.isolation import detect

    machine = detect()
    # These machines: cgroups v1 writable by root, no systemd; real servers differ (see docs/classroom-server.md).
    assert machine.namespaces, machine.problems
    assert machine.cgroups in ("v1", "v2") or machine.systemd, machine.problems


def test_the_service_unit_runs_the_same_hub_restarts_it_and_passes_systemd_analyze(tmp_path):
    from classroom import service

    settings = Settings(roster=tmp_path / "my roster.csv", directory=Path("/srv/finetune-course"), instructor="kim",
                        port=8443, domain="hub.example.edu", idle_timeout=1800)
    unit = tmp_path / "finetune-course-hub.service"
    said = []
    service.install(settings, unit=unit, say=said.append)
    text = unit.read_text()
    start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert start.split("=", 1)[1].startswith(str(Path(sys.executable).parent / "finetune-course") + " hub ")
    assert f'--roster "{tmp_path}/my roster.csv"' in start and "--dir /srv/finetune-course" in start
    assert "--domain hub.example.edu" in start and "--idle-timeout 1800" in start and "--port 8443" in start
    assert "Restart=on-failure" in text and "WantedBy=multi-user.target" in text and "KillSignal=SIGTERM" in text
    assert said and ("systemd does not run this machine" in said[0] or "installed and started" in said[0])
    other = Settings(roster=settings.roster, directory=Path("/srv/other"))
    with pytest.raises(HubError, match="another hub's"):
        service.install(other, unit=unit)
    analyze = shutil.which("systemd-analyze")
    if analyze:  # where systemd's tools are installed (here they are; CI installs what the machine lacks)
        result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        broken = tmp_path / "broken.service"
        broken.write_text(text.replace("ExecStart=/", "ExecStart="))
        assert subprocess.run([analyze, "verify", "--man=no", str(broken)], capture_output=True).returncode != 0
    service.uninstall(other, unit=unit)
    assert unit.exists()  # not that hub's
    service.uninstall(settings, unit=unit, say=said.append)
    assert not unit.exists()


def test_full_names_from_the_roster_reach_the_gradebook(tmp_path):
    from nbgrader.api import Gradebook

    from classroom import course
    from classroom.settings import read_full_names, read_roster

    roster = tmp_path / "roster.csv"
    roster.write_text('username,name\nada,Ada Lovelace\ngrace,"Hopper, Grace"\nalan\nmaria,María José García\n')
    assert read_roster(roster) == ["ada", "grace", "alan", "maria"]
    names = read_full_names(roster)
    assert names == {"ada": ("Ada", "Lovelace"), "grace": ("Grace", "Hopper"), "maria": ("María José", "García")}

    class Here(Settings):
        instructor_course = tmp_path / "course"

    (tmp_path / "course" / "grader").mkdir(parents=True)
    database = tmp_path / "course" / "grader" / "gradebook.db"
    Gradebook(f"sqlite:///{database}").close()
    import pwd

    settings = Here(roster=roster, instructor=pwd.getpwuid(os.getuid()).pw_name, students=read_roster(roster))
    course.record_names(settings, names)
    with Gradebook(f"sqlite:///{database}") as gradebook:
        found = {s.id: (s.first_name, s.last_name) for s in gradebook.students}
    assert found == {"ada": ("Ada", "Lovelace"), "grace": ("Grace", "Hopper"), "alan": (None, None),
                     "maria": ("María José", "García")}


def test_the_built_environment_links_roots_files_copies_the_rest_and_replaces_by_rename(tmp_path):
    """DIR/python is kept up to date file by file (classroom.environment._mirror): a file of root's that only root
    can change is hard-linked (it shares that owner and mode), any other is copied, root's and not writable by
    others; a changed file is renamed into place, so a process holding the old one keeps reading it; a file the
    source no longer has goes."""
    from classroom.environment import _mirror, writable_by_others

    source, target = tmp_path / "site", tmp_path / "env" / "site"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("A = 1\n")
    (source / "pkg" / "mod.py").chmod(0o644)
    (source / "loose.py").write_text("B = 2\n")
    (source / "loose.py").chmod(0o666)  # writable by anyone: never linked
    (source / "gone.py").write_text("")
    (source / "link").symlink_to("pkg")
    (target.parent).mkdir()
    _mirror(source, target, skip=lambda path: path.name == "skipped.pth")
    linked = (target / "pkg" / "mod.py").stat()
    root = os.geteuid() == 0
    assert (linked.st_ino == (source / "pkg" / "mod.py").stat().st_ino) == root  # linked only where root's
    loose = (target / "loose.py").stat()
    assert loose.st_ino != (source / "loose.py").stat().st_ino and loose.st_mode & 0o777 == 0o644
    assert os.readlink(target / "link") == "pkg"
    assert writable_by_others(target) == [] or not root

    held = open(target / "pkg" / "mod.py")
    (source / "pkg" / "mod.py").unlink()  # as pip replaces a file
    (source / "pkg" / "mod.py").write_text("A = 'new'\n")
    (source / "gone.py").unlink()
    (source / "skipped.pth").write_text("/somewhere\n")
    _mirror(source, target, skip=lambda path: path.name == "skipped.pth")
    assert (target / "pkg" / "mod.py").read_text() == "A = 'new'\n"
    assert held.read() == "A = 1\n"  # the old file, still open, is untouched
    held.close()
    assert not (target / "gone.py").exists() and not (target / "skipped.pth").exists()
    assert (source / "loose.py").read_text() == "B = 2\n"  # the source is never written through a link
