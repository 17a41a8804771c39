"""One way for the tests to run a worldsim CLI: :func:`run_cli`.

A console-script name (``"worldsim-data"``) runs the installed script in a subprocess, as users
run it; a ``main`` function (``worldsim.cli.data.main``) runs in this process, which the fuzz
suite uses to try many overrides without a start-up each. Both give a :class:`CliRun`.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple


class CliRun(NamedTuple):
    """Exit code and output of one CLI run; unpacks as ``code, out, err``."""

    returncode: int
    stdout: str
    stderr: str


def console_script(name: str) -> str:
    """The path of an installed console script (``worldsim-train``) of this environment."""
    return str(Path(sys.executable).with_name(name))


@contextlib.contextmanager
def _working_dir(cwd: Path | None) -> Iterator[None]:
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


def _run_in_process(main: Callable[[], None], args: tuple[str, ...], cwd: Path | None) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["worldsim", *args]
    code = 0
    try:
        with _working_dir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return CliRun(code, out.getvalue(), err.getvalue())


def run_cli(
    cli: str | Callable[[], None],
    *args: str,
    cwd: Path | None = None,
    timeout: float = 300,
    check: bool = False,
) -> CliRun:
    """Run ``cli`` with the Hydra overrides ``args`` in ``cwd``: a console-script name in a
    subprocess (killed after ``timeout`` seconds), or a ``main`` function in this process.
    With ``check``, a non-zero exit fails the test showing the end of stderr."""
    if callable(cli):
        run = _run_in_process(cli, args, cwd)
    else:
        proc = subprocess.run(
            [console_script(cli), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = CliRun(proc.returncode, proc.stdout, proc.stderr)
    if check:
        assert run.returncode == 0, f"{cli} {' '.join(args)}\n{run.stderr[-3000:]}"
    return run
