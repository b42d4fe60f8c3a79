"""``python -m agriseg`` = the ``agriseg`` command."""

from agriseg.cli import main

main()
