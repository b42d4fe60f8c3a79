"""``python -m agriseg`` = the ``agriseg`` command; :func:`run` is also its console-script entry point."""

import sys


def run() -> None:
    """The ``agriseg`` command. A Ctrl-C while its modules load ends it as one later does: one line, status 130
    (:class:`agriseg.cli._Main` answers it once the command runs)."""
    try:
        from agriseg.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("\nagriseg: interrupted\n")
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    run()
