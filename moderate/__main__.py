"""`python -m moderate` is the `moderate` command."""

from moderate.cli import main

main()
