"""Where the clone's folders are, for the modules that read or write them."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]   # lib/reprobook/paths.py -> the clone
BOOK = Path(os.environ.get("REPROBOOK_BOOK") or REPO_ROOT / "book")   # another book: tests, forks
RUNS = REPO_ROOT / "runs"
