"""``python -m spt_api`` runs the command line (``serve`` by default)."""

import sys

from spt_api.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["serve"]))
