"""Where the clone's folders are, for the modules that read or write them."""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]   # lib/reprobook/paths.py -> the clone
BOOK = REPO_ROOT / "book"
RUNS = REPO_ROOT / "runs"
