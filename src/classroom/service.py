"""The classroom server as a systemd service, as The Littlest JupyterHub runs its hub: started at boot, restarted
when it fails, stopped with SIGTERM (which stops every server and the proxy: :func:`.server.run_hub`).

``finetune-course hub --roster R --install-service ...`` checks as a start would, writes
``/etc/systemd/system/finetune-course-hub.service`` running the same command, and, where systemd runs
the machine, enables and starts it. ``--remove`` disables and deletes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from classroom.settings import HubError, Settings

UNIT = Path("/etc/systemd/system/finetune-course-hub.service")


def _quote(word: str) -> str:
    if word and all(c.isalnum() or c in "/._-=:,+@" for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command(settings: Settings) -> list[str]:
    """The ``finetune-course hub`` command line that starts this hub as set up."""
    words = [str(Path(sys.executable).parent / "finetune-course"), "hub", "--roster", str(settings.roster.resolve()),
             "--dir", str(settings.directory), "--instructor", settings.instructor, "--ip", settings.ip,
             "--port", str(settings.port), "--threads", str(settings.threads),
             "--memory", str(settings.limits.memory_mib), "--cpus", f"{settings.limits.cpus:g}",
             "--processes", str(settings.limits.processes), "--idle-timeout", str(settings.idle_timeout)]
    if settings.domain is not None:
        words += ["--domain", settings.domain]
    if settings.ssl_cert:
        words += ["--ssl-cert", str(Path(settings.ssl_cert).resolve()), "--ssl-key", str(Path(settings.ssl_key).resolve())]
    return words


def unit_text(settings: Settings) -> str:
    return f"""# Written by finetune-course hub --install-service for {settings.directory}; --remove deletes it.
[Unit]
Description=finetune-course classroom JupyterHub ({settings.directory})
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={' '.join(_quote(w) for w in command(settings))}
WorkingDirectory=/
Restart=on-failure
RestartSec=5
# SIGTERM: JupyterHub stops every server and its proxy, then the hub stops what is left.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=120
# Each server runs in a unit or cgroup of its own (see classroom.isolation); the hub may make cgroups.
Delegate=yes

[Install]
WantedBy=multi-user.target
"""


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def install(settings: Settings, unit: Path = UNIT, say=print) -> Path:
    if unit.exists() and f"for {settings.directory};" not in unit.read_text():
        raise HubError(f"{unit} is another hub's ({unit.read_text().splitlines()[0]}): remove that hub first; "
                       "nothing was changed")
    unit.write_text(unit_text(settings))
    unit.chmod(0o644)
    if systemd_runs():
        for step in (["daemon-reload"], ["enable", "--now", unit.name]):
            result = subprocess.run(["systemctl", *step], capture_output=True, text=True)
            if result.returncode != 0:
                raise HubError(f"systemctl {' '.join(step)} failed: {result.stderr.strip()}")
        say(f"installed and started {unit.name}: it starts at boot and again when it fails; "
            f"journalctl -u {unit.name} shows its log, systemctl stop {unit.name} stops it")
    else:
        say(f"wrote {unit}; systemd does not run this machine, so nothing starts it at boot here: start the hub "
            f"with {' '.join(command(settings))}")
    return unit


def uninstall(settings: Settings, unit: Path = UNIT, say=print) -> None:
    if not unit.is_file() or f"for {settings.directory};" not in unit.read_text():
        return
    if systemd_runs():
        subprocess.run(["systemctl", "disable", "--now", unit.name], capture_output=True)
    unit.unlink()
    if systemd_runs():
        subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
    say(f"removed the service {unit}")
