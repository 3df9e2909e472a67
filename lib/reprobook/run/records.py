"""The results store: one JSON record per (chapter, notebook, scale, seed, variant).

``results/<chapter>/<notebook>/<scale>-seed<k>[-<variant>].json`` holds metrics, parameters,
git commit, device, library versions, wall time and date. Records are written atomically.

The *variant* is every parameter that changes the result and differs from the notebook's
default (``dataset=cifar100``): a record of it never overwrites the default's, its file name
carries a short hash of it, and tables group records by it. Scale and seed have their own
places in the name; ``device`` changes where a run happens, not what it computes.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean, stdev

from ..paths import REPO_ROOT


def results_dir() -> Path:
    return Path(os.environ.get("REPROBOOK_RESULTS", REPO_ROOT / "results"))


NOT_A_VARIANT = ("scale", "seed", "device")


def variant_of(parameters: dict, defaults: dict) -> dict:
    """The parameters that differ from the notebook's defaults, except scale, seed and device."""
    return {k: v for k, v in sorted(parameters.items())
            if k not in NOT_A_VARIANT and (k not in defaults or defaults[k] != v)}


def variant_tag(variant: dict | None) -> str:
    """``""`` for the default, else ``-`` and 8 hex digits of the variant's hash."""
    if not variant:
        return ""
    return "-" + hashlib.sha1(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:8]


def record_path(chapter: str, notebook: str, scale: str, seed: int, variant: dict | None = None) -> Path:
    return results_dir() / chapter / notebook / f"{scale}-seed{seed}{variant_tag(variant)}.json"


def write_json_atomic(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def git_state() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def library_versions() -> dict:
    import numpy
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": numpy.__version__}
    try:
        import torchvision
        versions["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    from .. import __version__
    versions["reprobook"] = __version__
    return versions


def device_info(requested: str | None = None) -> dict:
    import torch

    info = {"requested": requested, "cuda_available": torch.cuda.is_available(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def make_record(chapter, notebook, scale, seed, parameters, metrics, wall_s, device=None, executed=None,
                variant: dict | None = None, figures: dict | None = None) -> dict:
    return {"chapter": chapter, "notebook": notebook, "scale": scale, "seed": seed,
            "variant": variant or {}, "parameters": parameters, "metrics": metrics,
            "figures": figures or {}, "wall_s": round(wall_s, 2),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git": git_state(), "device": device_info(device), "versions": library_versions(),
            "executed_notebook": executed}


ANY_VARIANT = "any"


def load_records(chapter: str, notebook: str | None = None, scale: str | None = None,
                 variant: dict | str | None = None) -> list[dict]:
    """Records of a chapter (optionally one notebook and scale), oldest first.

    ``variant``: ``None`` or ``{}`` the default parameters only, a dict that variant only,
    ``"any"`` every record.
    """
    base = results_dir() / chapter
    pattern = f"{notebook or '*'}/{scale or '*'}-seed*.json"
    records = [json.loads(p.read_text()) for p in sorted(base.glob(pattern))]
    if variant != ANY_VARIANT:
        records = [r for r in records if r.get("variant", {}) == (variant or {})]
    return sorted(records, key=lambda r: r.get("date", ""))


def summarize(values: list[float], digits: int = 2) -> str:
    """``m`` for one value, ``m ± s (n seeds)`` for several."""
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{mean(values):.{digits}f} ± {stdev(values):.{digits}f} ({len(values)} seeds)"
