"""``python -m agriseg`` = the ``agriseg`` command; :func:`run` is also its console-script entry point."""

import os
import signal
import sys


def run() -> None:
    """The ``agriseg`` command. A Ctrl-C while its modules load ends it as one later does: one line, status 130
    (:class:`agriseg.cli._Main` answers it once the command runs)."""
    try:
        from agriseg.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("\nagriseg: interrupted\n")
        raise SystemExit(130) from None
    try:
        main()
    finally:  # the command is over, its outputs complete: a Ctrl-C while Python shuts down (joining thread pools,
        signal.signal(signal.SIGINT, _late_ctrl_c)  # atexit callbacks) printed tracebacks and exited with 0


def _late_ctrl_c(signum: int, frame: object) -> None:
    """A Ctrl-C after the command finished, while Python shuts down: one line and status 130, at once (what is
    left of the shutdown has nothing to save). In the last tenths of a second CPython has put the default
    action back, and the process ends by SIGINT with no line (a shell shows 130 too)."""
    try:
        sys.stdout.flush()
        sys.stderr.write("\nagriseg: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


if __name__ == "__main__":
    run()
