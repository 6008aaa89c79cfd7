"""Autograde one submission and write its feedback in one process.

``nbgrader autograde`` followed by ``nbgrader generate_feedback`` pays for a Python start and the
nbgrader/nbconvert/SQLAlchemy imports twice (about 2 s of CPU each on the target laptop); across a
class that is a minute or more. This runs both through nbgrader's own apps in one interpreter, in
the current directory (a per-submission course root), and prints a marker line after each stage so
that the caller can tell a slow notebook from slow feedback::

    python -m autograder.nbrun ASSIGNMENT STUDENT [--cell-timeout SECONDS]

Exit status: 0 when autograde succeeded (whatever happened to feedback), nbgrader's own status
otherwise. Feedback failures are reported on the ``effnn-nbrun: feedback`` line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARK = "effnn-nbrun:"


def _run(argv: list[str]) -> int:
    """One nbgrader command through its app, as ``python -m nbgrader`` would run it."""
    from jupyter_core.application import NoStart
    from nbgrader.apps.nbgraderapp import NbGraderApp

    app = NbGraderApp.instance()
    try:
        app.initialize(argv)
        app.start()
        return 0
    except NoStart:  # how a jupyter app says "my sub-command ran" (launch_instance swallows it)
        return 0
    except SystemExit as exc:  # nbgrader's apps exit on failure
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        # traitlets apps are singletons: clear them so the next command configures afresh
        if app.subapp is not None:
            type(app.subapp).clear_instance()
        NbGraderApp.clear_instance()


def _keep_plain_files(folder: Path) -> None:
    """Remove what the kernel left that is not a plain file or folder (links, sockets, fifos).

    Feedback copies the folder outside the sandbox, where a link the student planted would point
    at the grader's files.
    """
    for path in sorted(folder.rglob("*"), reverse=True) if folder.is_dir() else []:
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.nbrun", description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("student")
    parser.add_argument("--cell-timeout", type=int, default=None)
    args = parser.parse_args(argv)
    common = [args.assignment, f"--student={args.student}", "--force"]
    extra = [f"--Execute.timeout={args.cell_timeout}"] if args.cell_timeout else []

    status = _run(["autograde", *common, *extra])
    print(f"{MARK} autograde {status}", flush=True)
    if status != 0:
        return status
    _keep_plain_files(Path("autograded") / args.student / args.assignment)
    feedback = _run(["generate_feedback", *common])
    print(f"{MARK} feedback {feedback}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
