"""Record a chapter's ``short`` run on a lent GPU machine: what to carry, in how many calls.

A lent machine (see CONTRIBUTING.md, "Recording a chapter on a lent GPU") receives the checkout
plus at most 64 MiB per call, has Python 3.12 with torch but no package registry, and keeps
files written outside the checkout between back-to-back calls while it stays warm. So a
chapter's run is a short sequence of calls:

1. ``reprobook gpu prepare CHAPTER --step 1`` here fills ``.gpu/`` (git-ignored) with the notebook
   tools' wheels and the first data shards; the device call ``bash scripts/gpu-run.sh stage``
   (carry ``.gpu``) installs the wheels and copies the shards outside the checkout.
2. ... the same for the next steps, until every file of the chapter's datasets is staged;
3. the last call is ``bash scripts/gpu-run.sh run CHAPTER``: it stages its own files, checks
   that nothing is missing, runs ``reprobook run CHAPTER --scale short --seed 0`` (printing each
   notebook's wall time) and packs the records, figures and executed notebooks into
   ``$OUT/results-CHAPTER.tar.gz``;
4. ``reprobook gpu collect FOLDER`` here unpacks that archive into ``results/`` and ``runs/``.
"""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..paths import REPO_ROOT
from . import notebooks as nbs

CALL_LIMIT = 64 * 2**20          # what one device call may carry: the working tree and its carried paths
MARGIN = 2 * 2**20               # for files that appear in the tree meanwhile (records, notes)
STAGING = ".gpu"                 # git-ignored; named in the call's `carry`
WHEELS_README = "../shared/wheels/README.md"


@dataclass(frozen=True)
class StagedFile:
    source: Path                 # where it is here
    target: str                  # where it goes under .gpu/ (and under the stage folder there)
    size: int


def _chapter_module(chapter: str):
    """``reprobook.chapters.<slug>`` of ``NN-slug``, or None when there is none."""
    try:
        return importlib.import_module(f"reprobook.chapters.{chapter[3:].replace('-', '_')}")
    except ModuleNotFoundError:
        return None


def chapter_datasets(chapter: str) -> tuple[str, ...]:
    """The datasets a chapter's default parameters read (its module's ``DATASETS``)."""
    slug = chapter[3:].replace("-", "_")
    module = _chapter_module(chapter)
    if module is None:
        raise ValueError(f"chapter {chapter} has no module reprobook.chapters.{slug}")
    datasets = getattr(module, "DATASETS", None)
    if datasets is None:                                   # () is a declaration: nothing to read
        raise ValueError(f"reprobook.chapters.{slug} does not declare DATASETS (the datasets its notebooks read)")
    return tuple(datasets)


def dataset_files(name: str, data_root: Path, staged_only: bool = False) -> list[StagedFile]:
    """The manifest and every shard of ``name`` under ``data_root`` (the zip-shard layout); for
    ``frost``, the frost pictures of CIFAR-10-C (from the data root, else the installed wheel); for
    ``splits``, the few-shot class lists; for ``omnipush``, its split files and real poses."""
    if name == "frost":
        from ..data.corruptions import FROST_FILES, _frost_dir, missing_frost_files

        with_data = Path(data_root) / "frost"
        missing = missing_frost_files(with_data)
        if staged_only or not missing:
            if missing:
                raise FileNotFoundError(f"{with_data} lacks the frost pictures {', '.join(missing)}")
            folder = with_data
        else:
            folder = Path(str(_frost_dir()))
        return [StagedFile(folder / f, f"data/frost/{f}", (folder / f).stat().st_size) for f in FROST_FILES]
    if name == "omnipush":              # the Omnipush split files and the real poses (book/08-omnipush)
        folder = Path(data_root) / "omnipush"
        files = [folder / f for f in ("split.json", "plywood_split.json", "object_pose.npy")]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"the Omnipush files {', '.join(missing)} are missing")
        return [StagedFile(p, f"data/omnipush/{p.name}", p.stat().st_size) for p in files]
    if name == "splits":                # the few-shot class lists (splits/<benchmark>/<split>.json)
        found = sorted((Path(data_root) / "splits").glob("*/*.json"))
        if not found:
            raise FileNotFoundError(f"{Path(data_root) / 'splits'} holds no class splits (<benchmark>/<split>.json)")
        return [StagedFile(p, f"data/splits/{p.parent.name}/{p.name}", p.stat().st_size) for p in found]
    folder = data_root / name
    manifest = folder / f"{name}-manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: a GPU run stages the zip shards of {name}; point "
                                f"--data (or REPROBOOK_DATA) at the folder holding {name}/")
    shards = sorted(json.loads(manifest.read_text())["shards"])
    files = [StagedFile(manifest, f"data/{name}/{manifest.name}", manifest.stat().st_size)]
    for shard in shards:
        path = folder / shard
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: a full run needs every shard the manifest lists")
        files.append(StagedFile(path, f"data/{name}/{shard}", path.stat().st_size))
    return files


#: where the wheels of a chapter's extra device packages (its module's ``DEVICE_PACKAGES``) are
#: downloaded for the device's Python 3.12 (git-ignored)
CHAPTER_WHEELS = REPO_ROOT / ".gpu-wheels"
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")


def chapter_packages(chapter: str) -> tuple[str, ...]:
    """The pinned packages (``name==version``) a chapter needs on the device beyond the shared
    wheelhouse (its module's ``DEVICE_PACKAGES``; e.g. MuJoCo for 08-omnipush)."""
    module = _chapter_module(chapter)
    packages = tuple(getattr(module, "DEVICE_PACKAGES", ()))
    for spec in packages:
        if spec.count("==") != 1:
            raise ValueError(f"{module.__name__}.DEVICE_PACKAGES: {spec!r} is not pinned as name==version")
    return packages


def _wheel_of(folder: Path, spec: str) -> Path | None:
    name, version = spec.split("==")
    prefix = f"{name.lower().replace('-', '_')}-{version}-"
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix))
    return found[0] if found else None


def chapter_wheel_files(chapter: str, folder: Path | None = None, download: bool = True) -> list[StagedFile]:
    """The wheels of :func:`chapter_packages` in ``folder`` (default ``.gpu-wheels/<chapter>``),
    downloaded there with pip for CPython 3.12 on x86-64 Linux when missing (here a package
    registry is reachable; on the device none is)."""
    packages = chapter_packages(chapter)
    if not packages:
        return []
    folder = Path(folder) if folder is not None else CHAPTER_WHEELS / chapter
    missing = [spec for spec in packages if _wheel_of(folder, spec) is None]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--no-deps",
                   "--python-version", "3.12", "-d", str(folder)]
        for platform_tag in DEVICE_PLATFORMS:
            command += ["--platform", platform_tag]
        subprocess.run(command + missing, check=False)
        missing = [spec for spec in packages if _wheel_of(folder, spec) is None]
    if missing:
        raise FileNotFoundError(f"the device wheels of {', '.join(missing)} are missing in {folder}: download them with "
                                f"`pip download --only-binary=:all: --no-deps --python-version 3.12 "
                                f"--platform {DEVICE_PLATFORMS[0]} -d {folder} {' '.join(missing)}`")
    return [StagedFile(w, f"wheels/{w.name}", w.stat().st_size) for w in (_wheel_of(folder, s) for s in packages)]


def wheel_files(wheels: Path) -> list[StagedFile]:
    found = sorted(wheels.glob("*.whl"))
    if not found:
        raise FileNotFoundError(f"no wheels in {wheels}: see {WHEELS_README} for the notebook tools' wheelhouse")
    return [StagedFile(p, f"wheels/{p.name}", p.stat().st_size) for p in found]


def tree_size(repo: Path = REPO_ROOT) -> int:
    """Bytes of what every call sends anyway: tracked files and untracked files git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout
    return sum((repo / p).stat().st_size for p in out.split("\0") if p and (repo / p).is_file())


def plan(chapter: str, data_root: Path, wheels: Path, tree_bytes: int | None = None) -> list[list[StagedFile]]:
    """The files of each call, in order: the wheels go first (the whole set in one call, so that the
    install of step 1 is complete), then the datasets' files, packed first-fit under the limit."""
    refs = nbs.resolve(chapter)
    chapter = refs[0].chapter
    budget = CALL_LIMIT - MARGIN - (tree_size() if tree_bytes is None else tree_bytes)
    files = (wheel_files(wheels) + chapter_wheel_files(chapter)
             + [f for name in chapter_datasets(chapter) for f in dataset_files(name, data_root)])
    steps: list[list[StagedFile]] = [[]]
    used = 0
    for f in files:
        if f.size > budget:
            raise ValueError(f"{f.source} ({f.size / 2**20:.1f} MiB) alone exceeds what one call may carry "
                             f"({budget / 2**20:.1f} MiB beside the checkout)")
        if used + f.size > budget:
            steps.append([])
            used = 0
        steps[-1].append(f)
        used += f.size
    return steps


def prepare(steps: list[list[StagedFile]], step: int, staging: Path = REPO_ROOT / STAGING) -> list[Path]:
    """Empty ``staging`` and copy the files of ``step`` (1-based) into it."""
    if not 1 <= step <= len(steps):
        raise ValueError(f"step must be 1..{len(steps)}, got {step}")
    if staging.exists():
        shutil.rmtree(staging)
    copied = []
    for f in steps[step - 1]:
        target = staging / f.target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f.source, target)
        copied.append(target)
    return copied


def describe(chapter: str, steps: list[list[StagedFile]]) -> str:
    """The exact sequence of calls, for a person to follow."""
    lines = [f"Recording {chapter} at short scale takes {len(steps)} device call(s), back to back "
             f"(the machine stays warm about 30 s):"]
    for k, files in enumerate(steps, 1):
        size = sum(f.size for f in files) / 2**20
        what = ", ".join(sorted({Path(f.target).parent.as_posix() for f in files}))    # wheels, data/cifar10, ...
        last = k == len(steps)
        command = f"bash scripts/gpu-run.sh run {chapter}" if last else "bash scripts/gpu-run.sh stage"
        lines.append(f"  {k}. here: reprobook gpu prepare {chapter} --step {k}   ({len(files)} files, {size:.1f} MiB: {what})")
        lines.append(f"     device: run(command=\"{command}\", carry=[\"{STAGING}\"]"
                     + (", timeout_s=600)" if last else ", timeout_s=120)"))
    lines.append(f"  then here: reprobook gpu collect <files_at of the last call>   (unpacks results/{chapter} and runs/{chapter})")
    return "\n".join(lines)


def collect(folder: Path, repo: Path = REPO_ROOT) -> list[str]:
    """Unpack every ``results-*.tar.gz`` under ``folder`` into the clone; return the member names."""
    archives = sorted(Path(folder).glob("results-*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"no results-*.tar.gz under {folder}")
    names = []
    for archive in archives:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                parts = Path(m.name).parts
                if m.name.startswith("/") or ".." in parts or parts[0] not in ("results", "runs") or not m.isfile():
                    raise ValueError(f"{archive}: unexpected member {m.name!r} (only results/ and runs/ files)")
            tar.extractall(repo, members=members, filter="data")
            names += [m.name for m in members]
    return names
