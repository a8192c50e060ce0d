"""A Jupyter server extension every server of the classroom loads (the hub's config enables it for each role).

- The server process is made non-dumpable (``PR_SET_DUMPABLE`` 0): the person's own kernels and
  terminals, which run as the same user, cannot attach to it with ptrace or read its memory, so
  they cannot change what it serves. (Its kernels are programs of their own, dumpable again.)
- nbgrader's Assignment List and Validate read an ``nbgrader_config.py`` from the folder they work
  in (the person's home): code anyone can put there, run in their server. Here they read only
  the config folders of the course (JUPYTER_CONFIG_PATH, root's), as user config is off.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

PR_SET_DUMPABLE = 4


def _jupyter_server_extension_points():
    return [{"module": "classroom.serverext"}]


def _course_config(self):
    """nbgrader's config (``jupyter_config`` and ``nbgrader_config``) from the config folders outside the home
    only: not from ``~/.jupyter`` (which JupyterHub's disable_user_config leaves in ``jupyter_config_path()``)
    and not from the working folder (nbgrader's ``load_cwd_config``)."""
    from jupyter_core.paths import jupyter_config_path
    from jupyterhub.singleuser._disable_user_config import _exclude_home
    from nbgrader.apps import NbGrader

    class CourseNbGrader(NbGrader):
        load_cwd_config = False

        @property
        def config_file_paths(self):
            return list(_exclude_home(jupyter_config_path()))

    app = CourseNbGrader()
    app.load_config_file()
    return app.config


@contextlib.contextmanager
def _assignment_dir_config(self):
    from nbgrader.exchange import ExchangeFactory
    from nbgrader.server_extensions.assignment_list.handlers import chdir

    config = self.load_config()
    lister = ExchangeFactory(config=config).List(config=config)
    with chdir(os.path.join(self.root_dir, lister.assignment_dir)):
        yield config


def patch_nbgrader() -> None:
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList
    from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler

    AssignmentList.load_config = _course_config
    AssignmentList.get_assignment_dir_config = _assignment_dir_config
    ValidateAssignmentHandler.load_config = _course_config


def _load_jupyter_server_extension(serverapp) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    patch_nbgrader()
    serverapp.log.info("classroom: this server is not dumpable; nbgrader reads the course's config only")
