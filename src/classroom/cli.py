"""``finetune-course hub``: the classroom server's command, found by ``finetune-course`` through an entry point
(``finetune_course.commands``), so that neither the course's package nor the grader imports this one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classroom.settings import HubError, PersonLimits, Settings

DEFAULT_DIR = "/srv/finetune-course"
HELP = ("instructors: a classroom JupyterHub on this machine (run as root): an account per roster line, nbgrader's "
        "exchange, the course as everyone's environment")


def register(sub) -> None:
    defaults = PersonLimits()
    hub = sub.add_parser("hub", help=HELP,
                         description="Sets up and starts a classroom JupyterHub (see docs/classroom-server.md). "
                         "Checks everything first; changes nothing if a check fails.")
    hub.add_argument("action", nargs="?", choices=["add-student", "remove-student", "reset-password", "sync"],
                     help="while the hub runs (with --dir): add or remove students (the roster file is edited), give "
                     "a student a new password, or make the accounts match the roster file after editing it")
    hub.add_argument("names", nargs="*", metavar="NAME", help="the students, for add-student, remove-student and "
                     "reset-password")
    hub.add_argument("--roster", help="CSV file, one student user name per line (a header line is allowed)")
    hub.add_argument("--instructor", default="instructor", help="the instructor's user name (default: %(default)s)")
    hub.add_argument("--dir", default=None,
                     help="the hub's folder: exchange, accounts.csv, its state (default: /srv/finetune-course; "
                     "--remove asks for it)")
    hub.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: %(default)s; 0.0.0.0 for "
                     "the classroom's network, with --ssl-cert/--ssl-key or behind a TLS proxy)")
    hub.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    hub.add_argument("--domain", default=None,
                     help="the hub's host name; each user's server is served from USER.DOMAIN, an origin of its own "
                     "(needs a wildcard DNS entry and certificate; default: localhost on loopback, none otherwise)")
    hub.add_argument("--ssl-cert", help="TLS certificate file (for --domain: one valid for DOMAIN and *.DOMAIN)")
    hub.add_argument("--ssl-key", help="TLS key file")
    hub.add_argument("--threads", type=int, default=2, help="CPU threads per student kernel (default: %(default)s)")
    hub.add_argument("--memory", type=int, default=defaults.memory_mib, metavar="MIB",
                     help="memory per student, all their processes, /tmp and /dev/shm (default: %(default)s)")
    hub.add_argument("--cpus", type=float, default=defaults.cpus, help="CPUs per student (default: %(default)s)")
    hub.add_argument("--processes", type=int, default=defaults.processes,
                     help="processes and threads per student (default: %(default)s)")
    hub.add_argument("--idle-timeout", type=int, default=3600, metavar="SECONDS",
                     help="stop a server idle this long; its files stay (default: %(default)s; 0: never)")
    hub.add_argument("--install-service", action="store_true",
                     help="install the hub as a systemd service (at boot, restarted on failure) with these options, "
                     "and start it there; where systemd does not run the machine, write the unit only")
    hub.add_argument("--setup-only", action="store_true", help="set up, print how to log in, and do not start")
    hub.add_argument("--remove", action="store_true",
                     help="delete the accounts the hub in --dir created (their homes, processes and temporary files) "
                     "and that folder, keeping the instructor's course and gradebook in DIR/kept; the checkout stays")
    hub.add_argument("--purge", action="store_true", help="with --remove: the instructor's course and gradebook too")


def run(args: argparse.Namespace) -> int:
    from classroom import server

    if args.idle_timeout < 0:
        print(f"finetune-course hub: --idle-timeout must be 0 (never) or more; got {args.idle_timeout}",
              file=sys.stderr)
        return 2
    for name in ("memory", "cpus", "processes"):
        if getattr(args, name) <= 0:
            print(f"finetune-course hub: --{name} must be more than 0; got {getattr(args, name)}", file=sys.stderr)
            return 2
    limits = PersonLimits(memory_mib=args.memory, cpus=args.cpus, processes=args.processes)
    settings = Settings(roster=Path(args.roster or ""), directory=Path(args.dir or DEFAULT_DIR).resolve(),
                        instructor=args.instructor, ip=args.ip, port=args.port, ssl_cert=args.ssl_cert,
                        ssl_key=args.ssl_key, threads=args.threads, domain=args.domain, limits=limits,
                        idle_timeout=args.idle_timeout)
    try:
        if args.action:
            return _roster_action(args)
        if args.purge and not args.remove:
            raise HubError("--purge goes with --remove")
        if args.remove:
            if args.dir is None:
                raise HubError("say which hub to remove: --remove --dir DIR (the folder it was set up in, e.g. "
                               f"{DEFAULT_DIR}); nothing was changed")
            server.remove(settings, purge=args.purge)
            return 0
        if not args.roster:
            raise HubError("say who the students are: --roster roster.csv (one user name per line)")
        if args.install_service:
            from classroom import checks, service

            problems = checks.check(settings)
            if problems:
                raise HubError("the service was not installed; nothing was changed:\n- " + "\n- ".join(problems))
            service.install(settings)
            return 0
        config = server.setup(settings)
        if args.setup_only:
            print(f"set up; start it with: {sys.executable} -m jupyterhub -f {config}")
            return 0
        return server.start(settings, config)
    except HubError as error:
        print(f"finetune-course hub: {error}", file=sys.stderr)
        return 2


def _roster_action(args: argparse.Namespace) -> int:
    from classroom import roster

    if args.dir is None:
        raise HubError(f"say which hub: {args.action} ... --dir DIR (the folder it was set up in, e.g. {DEFAULT_DIR})")
    if args.action != "sync" and not args.names:
        raise HubError(f"{args.action} needs at least one NAME")
    if args.action == "sync" and args.names:
        raise HubError("sync takes no NAME: it reads the roster file")
    settings = roster.hub_settings(Path(args.dir).resolve())
    if args.action == "add-student":
        roster.edit_roster(settings, add=args.names)
    elif args.action == "remove-student":
        roster.edit_roster(settings, remove=args.names)
    elif args.action == "reset-password":
        unknown = [n for n in args.names if n not in settings.students and n != settings.instructor]
        if unknown:
            raise HubError(f"not in this class: {', '.join(unknown)}; nothing was changed")
    roster.sync(settings, reset=set(args.names) if args.action == "reset-password" else set())
    return 0
