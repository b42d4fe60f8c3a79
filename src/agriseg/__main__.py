"""``python -m agriseg`` = the ``agriseg`` command; :func:`run` is also its console-script entry point."""

import errno
import os
import signal
import sys


class _Forgiving:
    """A terminal stream whose failures never stop the command: progress bars and messages are for the person
    watching, and a closed stderr (``2>&-``) or a reader that went away (``| head``) must not lose a batch's
    summary table. Writing to it after it failed does nothing; everything else goes to the stream. A failure
    other than a reader that went away (a full disk: ``> /dev/full``) is kept in :attr:`failed`, so the command
    can say its output was lost instead of ending with status 0."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self._broken = stream is None
        self.failed: OSError | None = None
        try:  # a file name in another encoding is written as its bytes (as ls does), never dropped
            stream.reconfigure(errors="surrogateescape")  # type: ignore[attr-defined]
        except (AttributeError, ValueError, OSError):
            pass

    def _fail(self, err: Exception) -> None:
        self._broken = True
        if isinstance(err, OSError) and err.errno not in (errno.EPIPE, errno.EBADF, errno.ECONNRESET):
            self.failed = err

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                return int(self._stream.write(text))  # type: ignore[attr-defined]
            except (OSError, ValueError) as err:  # EBADF, EPIPE, ENOSPC; ValueError: the file was closed
                self._fail(err)
        return len(text)

    def flush(self) -> None:
        if not self._broken:
            try:
                self._stream.flush()  # type: ignore[attr-defined]
            except (OSError, ValueError) as err:
                self._fail(err)

    def isatty(self) -> bool:
        try:
            return not self._broken and bool(self._stream.isatty())  # type: ignore[attr-defined]
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> object:
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


def run() -> None:
    """The ``agriseg`` command. A Ctrl-C while its modules load ends it as one later does: one line, status 130
    (:class:`agriseg.cli._Main` answers it once the command runs)."""
    sys.stdout, sys.stderr = _Forgiving(sys.stdout), _Forgiving(sys.stderr)
    try:
        from agriseg.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("\nagriseg: interrupted\n")
        raise SystemExit(130) from None
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # not when the caller chose to ignore it
        signal.signal(signal.SIGTERM, _terminate)
        # forked workers (data loaders, block pools) keep the default: their pool ends them with SIGTERM
        if hasattr(os, "register_at_fork"):  # POSIX
            os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    try:
        main()
    except SystemExit as done:
        sys.stdout.flush()
        lost = getattr(sys.stdout, "failed", None)
        if lost is not None and done.code in (0, None):  # e.g. a full disk: its tables and report are lost
            sys.stderr.write(f"agriseg: could not write to standard output ({lost.strerror or lost})\n")
            raise SystemExit(1) from None
        raise
    finally:  # the command is over, its outputs complete: a Ctrl-C while Python shuts down (joining thread pools,
        signal.signal(signal.SIGINT, _late_ctrl_c)  # atexit callbacks) printed tracebacks and exited with 0


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (Slurm's ``scancel`` or time limit, ``kill``): stop as a Ctrl-C does, so the outputs stay complete,
    the folder's lock goes and one line says what was kept (status 143). A second SIGTERM ends it at once."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from agriseg.batch import Terminated

    raise Terminated


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
