"""``python -m taurl.cli``."""

from taurl.cli import main

main()
