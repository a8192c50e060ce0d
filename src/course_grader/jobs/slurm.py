"""Grading on a Slurm cluster: Dask workers as Slurm jobs (dask-jobqueue), the batch from the login node.

    python -m course_grader.jobs.slurm --nodes 4 --cores 16 --memory 64GB --walltime 02:00:00 \\
        --account cs101 -- [autograde options]

starts a scheduler here, asks Slurm for ``--nodes`` jobs of ``--cores`` one-threaded workers
each (one grading job per core), and runs ``autograde --scheduler`` against it; the workers go
when it ends. ``--print-job-script`` prints the script Slurm would get, and submits nothing.
The compute nodes need the course's environment at ``--python`` (a shared home, or the same
path on every node) and bubblewrap; the course itself stays on the login node.
"""

from __future__ import annotations

import argparse
import sys


def slurm_cluster(cores: int, memory: str, walltime: str, queue: str | None = None, account: str | None = None,
                  python: str = sys.executable, directives: list[str] | None = None):
    """A dask-jobqueue SLURMCluster whose every Slurm job is ``cores`` one-threaded worker processes."""
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(job_name="course-grader", cores=cores, processes=cores, memory=memory, walltime=walltime,
                        queue=queue, account=account, python=python, job_extra_directives=directives or [])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="python -m course_grader.jobs.slurm", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1, help="Slurm jobs of workers (default: %(default)s)")
    parser.add_argument("--cores", type=int, required=True, help="cores per Slurm job: one grading job each")
    parser.add_argument("--memory", required=True, help="memory per Slurm job, e.g. 64GB")
    parser.add_argument("--walltime", default="02:00:00", help="time limit per Slurm job (default: %(default)s)")
    parser.add_argument("--queue", help="partition (#SBATCH -p)")
    parser.add_argument("--account", help="account (#SBATCH -A)")
    parser.add_argument("--python", default=sys.executable, help="the course environment's python on the nodes "
                        "(default: this one, %(default)s)")
    parser.add_argument("--directive", action="append", help="another #SBATCH line, e.g. --directive=--exclusive")
    parser.add_argument("--config", help="the course's nbgrader_config.py (default: found from here)")
    parser.add_argument("--print-job-script", action="store_true", help="print the job script; submit nothing")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    with slurm_cluster(args.cores, args.memory, args.walltime, args.queue, args.account, args.python,
                       args.directive) as cluster:
        if args.print_job_script:
            print(cluster.job_script())
            return 0
        from course_grader.cli import main as grade

        cluster.scale(jobs=args.nodes)
        config = ["--config", args.config] if args.config else []
        return grade([*config, "autograde", "--scheduler", cluster.scheduler_address, *rest])


if __name__ == "__main__":
    sys.exit(main())
