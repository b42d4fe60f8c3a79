"""The code behind the benchmark scripts in ``benchmarks/``: one module per subcommand, run through
:func:`dispatch` (``python benchmarks/<script>.py <subcommand> [options]``). Nothing here runs on its own."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def dispatch(doc: str, commands: dict[str, str], default: str | None = None) -> None:
    """Run ``main`` of the module of the subcommand named by the first argument, with the remaining arguments.

    Args:
        doc: the script's docstring, printed (with the subcommands) by ``--help`` or without arguments.
        commands: subcommand -> module (``lib.<name>``, or a library module beside the scripts).
        default: the subcommand run when the first argument is an option (older command lines).
    """
    prog = Path(sys.argv[0]).name
    args = sys.argv[1:]
    if args and args[0] not in commands and default is not None and args[0] not in ("-h", "--help"):
        args = [default, *args]
    if not args or args[0] not in commands:
        print(doc.strip() + "\n\nsubcommands: " + ", ".join(commands))
        print(f"usage: python benchmarks/{prog} SUBCOMMAND [--help | options]")
        raise SystemExit(0 if args and args[0] in ("-h", "--help") else 2)
    name, rest = args[0], args[1:]
    main = importlib.import_module(commands[name]).main
    if hasattr(main, "main") and hasattr(main, "params"):  # a click command
        main.main(args=rest, prog_name=f"{prog} {name}")
    else:  # an argparse main() reading sys.argv
        sys.argv = [f"{prog} {name}", *rest]
        main()


SHARED_HINT = "the shared data lie in ../shared beside the project"


def need(path: str | Path, what: str, hint: str = SHARED_HINT) -> Path:
    """``path``, or a stop with one line (exit 1) when a benchmark's data is not there: a traceback, or a "fewer
    than 32 photos" of a folder that is missing, said it before (session 107's sweep)."""
    p = Path(path)
    if not p.exists():
        raise SystemExit(f"error: {p}: not there ({what}{'; ' + hint if hint else ''})")
    return p
