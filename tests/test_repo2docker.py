"""The course's image for Kubernetes (binder/, for repo2docker) and the conda environment file agree with pyproject.toml.

Fast and offline: no Docker, no image build, no cluster. What is checked here is what can be without
them (see docs/classroom-kubernetes.md, "A classroom on Kubernetes (Zero to JupyterHub)"):

- ``binder/environment.yml`` names pyproject.toml's dependencies and its course, grader and hub
  extras, and nothing else, with the same version specifiers; ``environment.yml`` (``conda env
  create``) names those of the dev extra. conda-forge's names that differ from PyPI's are mapped
  explicitly (``CONDA_TO_PYPI``);
- ``binder/postBuild`` is executable and, run with a stand-in ``pip``, installs the course package
  and merges the students' Jupyter configuration into the environment's ``etc/jupyter``, where it
  wins over what nbgrader installs: no formgrader, no course list, no create-assignment, the
  Assignment List and Validate on, nbgrader's exchange at the path every server mounts;
- ``binder/.dockerignore`` keeps the hidden tests and the gradebook out of the image;
- the Kubernetes files in ``docs/kubernetes`` load, and the Zero to JupyterHub excerpt names the
  image and mounts the exchange's volume there.
"""

import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
KUBERNETES = ROOT / "docs" / "kubernetes"
PROJECT = "finetune-course"

# conda-forge's package -> the PyPI distribution pyproject.toml names. jupyterhub-singleuser is
# conda-forge's jupyterhub without the hub's proxy and Node.js: what a user's server needs.
CONDA_TO_PYPI = {"pytorch": "torch", "jupyterhub-singleuser": "jupyterhub"}
CONDA_ONLY = {"python", "pip"}  # the environment itself, not packages pyproject.toml can name
CONDA_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pypi_packages(project: dict, extras: list[str]) -> dict[str, SpecifierSet]:
    """The packages ``pip install ".[EXTRAS]"`` asks for, by canonical name, with their specifiers."""
    optional = project["project"].get("optional-dependencies", {})
    packages: dict[str, SpecifierSet] = {}
    seen: set[str] = set()

    def add(lines: list[str]) -> None:
        for line in lines:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            if requirement.marker is not None:
                raise AssertionError(f"{line!r} has an environment marker: say here how the conda files take it")
            if name == PROJECT:  # the course's own extras, e.g. "finetune-course[course]"
                for extra in sorted(requirement.extras - seen):
                    seen.add(extra)
                    add(optional[extra])
                continue
            if requirement.extras:
                raise AssertionError(f"{line!r} asks for extras: say here how the conda files take it")
            packages[name] = packages.get(name, SpecifierSet()) & requirement.specifier

    add(project["project"]["dependencies"])
    for extra in extras:
        seen.add(extra)
        add(optional[extra])
    return packages


def conda_packages(path: Path) -> tuple[dict[str, SpecifierSet], dict]:
    """An environment file's packages (conda's and pip's) by PyPI name, and what else it says."""
    env = yaml.safe_load(path.read_text())
    packages: dict[str, SpecifierSet] = {}
    other = {"python": None, "installs_project": False, "channels": env.get("channels", [])}

    def put(name: str, spec: SpecifierSet, line: str) -> None:
        assert name not in packages, f"{path.name}: {line!r} names {name} a second time"
        packages[name] = spec

    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"{path.name}: unexpected section {entry}"
            for line in entry["pip"]:
                if line.strip() in {".", "-e .", "--editable ."}:
                    other["installs_project"] = True
                    continue
                requirement = Requirement(line)
                put(canonicalize_name(requirement.name), requirement.specifier, line)
            continue
        match = CONDA_SPEC.match(entry.strip())
        assert match, f"{path.name}: cannot read {entry!r}"
        name, spec = match.group(1).lower(), match.group(2).replace(" ", "")
        if name in CONDA_ONLY:
            other[name] = spec
            continue
        assert "::" not in entry and "[" not in entry, f"{path.name}: {entry!r}: channel or build pins are not compared here"
        put(canonicalize_name(CONDA_TO_PYPI.get(name, name)), SpecifierSet(spec), entry)
    return packages, other


def differences(wanted: dict[str, SpecifierSet], named: dict[str, SpecifierSet], where: str) -> list[str]:
    """What pyproject.toml asks for that ``where`` does not say the same way, and the reverse."""
    problems = []
    for name in sorted(wanted.keys() - named.keys()):
        problems.append(f"{name}{wanted[name]} is in pyproject.toml, not in {where}")
    for name in sorted(named.keys() - wanted.keys()):
        problems.append(f"{name}{named[name]} is in {where}, not in pyproject.toml")
    for name in sorted(wanted.keys() & named.keys()):
        if wanted[name] != named[name]:
            problems.append(f"{name}: pyproject.toml says {str(wanted[name]) or 'any version'}, "
                            f"{where} says {str(named[name]) or 'any version'}")
    return problems


def python_pin_allowed(pin: str | None, project: dict) -> bool:
    """A conda pin such as ``=3.11`` names a version that requires-python allows."""
    assert pin, "the environment file pins no Python version"
    version = pin.lstrip("=").rstrip(".*")
    return SpecifierSet(project["project"]["requires-python"]).contains(version)


# -- the package lists ------------------------------------------------------------------------------------
IMAGE_EXTRAS = ["course", "grader", "hub"]


def test_the_images_environment_names_pyprojects_packages_with_the_same_specifiers():
    project = pyproject()
    named, other = conda_packages(BINDER / "environment.yml")
    assert differences(pypi_packages(project, IMAGE_EXTRAS), named, "binder/environment.yml") == []
    assert other["channels"] == ["conda-forge"]
    assert python_pin_allowed(other["python"], project)
    # postBuild installs the course package (without dependencies: they are all above)
    assert not other["installs_project"]


def test_the_conda_environment_file_names_the_dev_extras_packages_with_the_same_specifiers():
    project = pyproject()
    named, other = conda_packages(ROOT / "environment.yml")
    assert differences(pypi_packages(project, ["dev"]), named, "environment.yml") == []
    assert other["installs_project"]
    assert python_pin_allowed(other["python"], project)


def test_a_package_added_to_pyproject_alone_or_with_another_specifier_is_reported():
    project = pyproject()
    named, _ = conda_packages(BINDER / "environment.yml")
    project["project"]["optional-dependencies"]["course"].append("einops>=0.7")
    project["project"]["dependencies"] = [line.replace("numpy>=1.24", "numpy>=2") for line in
                                          project["project"]["dependencies"]]
    found = differences(pypi_packages(project, IMAGE_EXTRAS), named, "binder/environment.yml")
    assert found == ["einops>=0.7 is in pyproject.toml, not in binder/environment.yml",
                     "numpy: pyproject.toml says >=2, binder/environment.yml says >=1.24"]


def test_conda_names_are_mapped_explicitly():
    named, _ = conda_packages(BINDER / "environment.yml")
    assert "torch" in named and "jupyterhub" in named  # as pytorch and jupyterhub-singleuser
    text = (BINDER / "environment.yml").read_text()
    assert re.search(r"^\s*- pytorch>=", text, re.M) and not re.search(r"^\s*- torch\b", text, re.M)


# -- postBuild and the students' configuration -------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """binder/postBuild run as repo2docker runs it (from the repository's folder), with a stand-in pip.

    The environment's etc/jupyter already holds what nbgrader's package installs (every nbgrader
    server extension on) and a jupyter_server_config.json of someone else's, as an image would.
    """
    tmp = tmp_path_factory.mktemp("image")
    prefix = tmp / "env"
    etc = prefix / "etc" / "jupyter"
    (etc / "jupyter_server_config.d").mkdir(parents=True)
    everything_on = {"ServerApp": {"jpserver_extensions": {
        f"nbgrader.server_extensions.{name}": True
        for name in ("formgrader", "assignment_list", "course_list", "validate_assignment")}}}
    (etc / "jupyter_server_config.d" / "nbgrader.json").write_text(json.dumps(everything_on))
    (etc / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"jupyter_resource_usage": True}}}))
    stand_in = tmp / "bin"
    stand_in.mkdir()
    calls = tmp / "pip-calls.json"
    (stand_in / "pip").write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                                  f"open({str(calls)!r}, 'a').write(json.dumps([os.getcwd(), sys.argv[1:]]) + '\\n')\n")
    (stand_in / "pip").chmod(0o755)
    env = {"PATH": f"{stand_in}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
           "NB_PYTHON_PREFIX": str(prefix), "HOME": str(tmp)}
    done = subprocess.run(["./binder/postBuild"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"etc": etc, "pip": [json.loads(line) for line in calls.read_text().splitlines()]}


def test_postbuild_is_an_executable_script():
    path = BINDER / "postBuild"
    assert path.stat().st_mode & stat.S_IXUSR, "chmod +x binder/postBuild (and commit the mode)"
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    listed = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:  # a git checkout with the file committed
        assert listed.stdout.startswith("100755"), "git update-index --chmod=+x binder/postBuild"


def test_postbuild_installs_the_course_package_without_dependencies(built):
    [(cwd, args)] = built["pip"]
    assert args[:1] == ["install"] and "--no-deps" in args
    targets = [Path(cwd, a).resolve() for a in args[1:] if not a.startswith("-")]
    assert targets == [ROOT]


def test_the_students_server_has_assignment_list_and_validate_and_no_formgrader(built):
    from jupyter_server.extension.config import ExtensionConfigManager

    # how Jupyter Server merges extension config: jupyter_server_config.d/*.json, then jupyter_server_config.json
    enabled = ExtensionConfigManager(read_config_path=[str(built["etc"])]).get_jpserver_extensions()
    nb = "nbgrader.server_extensions."
    assert enabled[nb + "formgrader"] is False
    assert enabled[nb + "course_list"] is False
    assert enabled[nb + "assignment_list"] is True
    assert enabled[nb + "validate_assignment"] is True
    assert enabled["jupyter_resource_usage"] is True  # merged into the file that was there, not replacing it


def test_the_students_jupyterlab_has_no_instructor_panels(built):
    disabled = json.loads((built["etc"] / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    for plugin in ("formgrader", "create-assignment", "course-list"):
        assert disabled.get(f"@jupyter/nbgrader:{plugin}") is True
    # the Assignment List, and the Nbgrader menu it opens from, stay
    assert not disabled.get("@jupyter/nbgrader:assignment-list")
    assert not disabled.get("@jupyter/nbgrader:menu")
    assert disabled.get("@jupyterlab/apputils-extension:announcements") is True


def test_the_image_config_differs_from_make_labs_only_by_the_assignment_list():
    """jupyter/ (make lab: one student, no exchange) and binder/jupyter/ agree on everything else."""
    lab = json.loads((ROOT / "jupyter" / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    image = json.loads((BINDER / "jupyter" / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert {k: v for k, v in lab.items() if not k.endswith("assignment_list")} == \
        {k: v for k, v in image.items() if not k.endswith("assignment_list")}
    lab_off = json.loads((ROOT / "jupyter" / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    image_off = json.loads((BINDER / "jupyter" / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {k for k, v in lab_off.items() if v} - {k for k, v in image_off.items() if v} == \
        {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:menu"}


def exchange_root_of_the_image(etc: Path):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(etc)).load_config()
    return config.CourseDirectory.course_id, config.Exchange.root


def test_the_images_nbgrader_config_names_the_course_and_the_exchange(built):
    from nbgrader.exchange.default.exchange import Exchange

    course_id, root = exchange_root_of_the_image(built["etc"])
    assert course_id == "finetune-course"
    # nbgrader's default, so the instructor's course config (which the grader reads alone) agrees
    assert root == Exchange().root == "/usr/local/share/nbgrader/exchange"


# -- what goes into the image --------------------------------------------------------------------------------
def test_the_image_leaves_out_hidden_tests_gradebook_and_local_environments():
    ignored = {line.strip() for line in (BINDER / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"solutions", "grader", "tests", ".git", ".venv"} <= ignored


def test_the_image_has_bubblewrap_for_the_graders_sandbox():
    packages = {line.split("#")[0].strip() for line in (BINDER / "apt.txt").read_text().splitlines()}
    assert "bubblewrap" in packages


def test_binder_holds_only_what_repo2docker_reads_and_the_students_config():
    """A runtime.txt, requirements.txt, Dockerfile... in binder/ would change what repo2docker builds."""
    names = {p.name for p in BINDER.iterdir()}
    assert names == {"environment.yml", "apt.txt", "postBuild", ".dockerignore", "jupyter"}


# -- the Kubernetes files -----------------------------------------------------------------------------------
def load_all(name: str) -> list:
    return [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc is not None]


def test_the_kubernetes_files_load():
    files = sorted(p.name for p in KUBERNETES.glob("*.yaml"))
    assert files == ["config.yaml", "dask-values.yaml", "exchange.yaml", "grading-network.yaml"]
    for name in files:
        assert load_all(name), name


def test_the_z2jh_config_names_the_image_and_mounts_the_exchange_where_nbgrader_looks():
    [config] = load_all("config.yaml")
    singleuser = config["singleuser"]
    assert singleuser["image"]["name"] and singleuser["image"]["tag"]
    _, root = exchange_root_of_the_image(BINDER / "jupyter")
    [mount] = [m for m in singleuser["storage"]["extraVolumeMounts"] if m["mountPath"] == root]
    [volume] = [v for v in singleuser["storage"]["extraVolumes"] if v["name"] == mount["name"]]
    claims = {doc["metadata"]["name"]: doc for doc in load_all("exchange.yaml")
              if doc["kind"] == "PersistentVolumeClaim"}
    claim = claims[volume["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    # the hub's extra configuration is Python the hub can at least compile
    for name, code in config["hub"]["extraConfig"].items():
        compile(code, name, "exec")


def test_the_dask_chart_runs_the_graders_image_one_job_per_worker():
    [values] = load_all("dask-values.yaml")
    assert values["scheduler"]["image"] == {k: v for k, v in values["worker"]["image"].items() if k != "dask_worker"}
    assert values["worker"]["threads_per_worker"] == 1
    assert values["jupyter"]["enabled"] is False
