"""The CPU side of recording a chapter on a lent GPU: staging plan, prepared folder, script checks."""
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from reprobook.run import gpu

REPO = Path(__file__).resolve().parents[2]
WHEELS = REPO.parent / "shared" / "wheels" / "device-py312"


@pytest.fixture
def staged(data_root):
    if not WHEELS.is_dir():
        pytest.fail(f"{WHEELS} is missing: the wheelhouse of ../shared/wheels is part of the offline set-up")
    return data_root


@pytest.mark.parametrize("chapter", ["00-example", "03-hypersphere", "05-supcon", "06-rfs"])
def test_every_call_stays_within_64_mib_and_every_file_is_staged_once(staged, chapter):
    tree = gpu.tree_size()
    steps = gpu.plan(chapter, staged, WHEELS)
    for files in steps:
        assert tree + sum(f.size for f in files) <= gpu.CALL_LIMIT
    targets = [f.target for files in steps for f in files]
    assert len(targets) == len(set(targets))
    expected = {f.target for name in gpu.chapter_datasets(chapter) for f in gpu.dataset_files(name, staged)}
    assert expected <= set(targets) and all(t.startswith("wheels/") for t in set(targets) - expected)
    assert any(t.endswith("-manifest.json") for t in targets)
    wheel_steps = {k for k, files in enumerate(steps) for f in files if f.target.startswith("wheels/")}
    assert wheel_steps == {0}                                  # the install is complete after call 1
    text = gpu.describe(chapter, steps)
    assert f"bash scripts/gpu-run.sh run {chapter}" in text and text.count("gpu-run.sh stage") == len(steps) - 1


def test_the_few_shot_chapter_stages_the_class_splits_with_cifar100(staged):
    targets = {f.target for files in gpu.plan("06-rfs", staged, WHEELS) for f in files}
    assert {f"data/splits/{b}/{s}.json" for b in ("cifar-fs", "fc100") for s in ("train", "val", "test")} <= targets
    assert "data/cifar100/cifar100-manifest.json" in targets


def test_a_file_larger_than_a_call_is_refused(staged):
    with pytest.raises(ValueError, match="exceeds what one call may carry"):
        gpu.plan("03-hypersphere", staged, WHEELS, tree_bytes=50 * 2**20)


def test_prepare_fills_the_staging_folder_with_one_step(staged, tmp_path):
    steps = gpu.plan("03-hypersphere", staged, WHEELS)
    folder = tmp_path / ".gpu"
    (folder / "stale").mkdir(parents=True)
    copied = gpu.prepare(steps, 2, folder)
    assert sorted(p.relative_to(folder).as_posix() for p in copied) == sorted(f.target for f in steps[1])
    assert not (folder / "stale").exists()
    with pytest.raises(ValueError, match="step must be 1.."):
        gpu.prepare(steps, len(steps) + 1, folder)


def test_missing_data_or_wheels_say_where_to_look(tmp_path, staged):
    with pytest.raises(FileNotFoundError, match="cifar10-manifest.json not found"):
        gpu.plan("03-hypersphere", tmp_path, WHEELS)
    with pytest.raises(FileNotFoundError, match="no wheels"):
        gpu.plan("03-hypersphere", staged, tmp_path)


def _archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_collect_unpacks_results_and_refuses_anything_else(tmp_path):
    back, repo = tmp_path / "back", tmp_path / "repo"
    back.mkdir()
    _archive(back / "results-99-x.tar.gz", {"results/99-x/01-a/short-seed0.json": b"{}",
                                            "runs/99-x/01-a-short-seed0.ipynb": b"{}"})
    assert len(gpu.collect(back, repo)) == 2 and (repo / "results/99-x/01-a/short-seed0.json").exists()
    _archive(back / "results-99-y.tar.gz", {"../escape.txt": b"x"})
    with pytest.raises(ValueError, match="unexpected member"):
        gpu.collect(back, repo)


def _script(*args, env=None):
    return subprocess.run(["bash", "scripts/gpu-run.sh", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_the_device_script_checks_its_arguments_and_has_a_dry_run():
    assert _script().returncode == 2
    bad = _script("run", "99-nope", "--dry-run")
    assert bad.returncode == 2 and "no chapter book/99-nope" in bad.stderr
    assert _script("run", "03-hypersphere", "--bogus").returncode == 2
    no_out = _script("run", "03-hypersphere", env={"OUT": ""})
    assert no_out.returncode == 2 and "$OUT is not set" in no_out.stderr
    dry = _script("run", "03-hypersphere", "--dry-run", env={"REPROBOOK_STAGE": "/tmp/stage-x"})
    assert dry.returncode == 0, dry.stderr
    for step in ("gpu check 03-hypersphere --data /tmp/stage-x/data",
                 "reprobook.cli run 03-hypersphere --scale short --seed 0 --device cuda",
                 "tar czf /tmp/results-03-hypersphere.tar.gz"):
        assert step in dry.stdout, dry.stdout
    assert not Path("/tmp/stage-x").exists()                   # a dry run touches nothing


# the sizes of the real wheels of 08-omnipush's DEVICE_PACKAGES (pip download for cp312, manylinux)
OMNIPUSH_WHEELS = {"mujoco-3.17.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl": 26_654_565,
                   "absl_py-2.5.1-py3-none-any.whl": 137_673, "etils-1.15.0-py3-none-any.whl": 177_402,
                   "glfw-2.11.0-py2.py3-none-manylinux_2_28_x86_64.whl": 248_539,
                   "pyopengl-3.1.10-py3-none-any.whl": 3_194_996}


@pytest.fixture
def omnipush_wheels(tmp_path, monkeypatch):
    """Sparse stand-ins of the simulator's wheels, as `pip download` leaves them."""
    folder = tmp_path / "08-omnipush"
    folder.mkdir()
    for name, size in OMNIPUSH_WHEELS.items():
        with open(folder / name, "wb") as fh:
            fh.truncate(size)
    monkeypatch.setattr(gpu, "CHAPTER_WHEELS", tmp_path)
    return folder


def test_the_pushing_chapter_carries_the_simulator_with_the_notebook_tools(staged, omnipush_wheels):
    from reprobook.chapters import omnipush

    assert gpu.chapter_packages("08-omnipush") == omnipush.DEVICE_PACKAGES
    steps = gpu.plan("08-omnipush", staged, WHEELS)
    tree = gpu.tree_size()
    assert all(tree + sum(f.size for f in files) <= gpu.CALL_LIMIT for files in steps)
    wheels = {f.target for f in steps[0] if f.target.startswith("wheels/")}
    assert {f"wheels/{n}" for n in OMNIPUSH_WHEELS} <= wheels     # installed with the tools, in call 1
    targets = {f.target for files in steps for f in files}
    assert {"data/omnipush/split.json", "data/omnipush/plywood_split.json", "data/omnipush/object_pose.npy"} <= targets
    assert gpu.chapter_packages("03-hypersphere") == () and gpu.chapter_wheel_files("03-hypersphere") == []


def test_missing_device_wheels_say_how_to_get_them(omnipush_wheels):
    (omnipush_wheels / next(n for n in OMNIPUSH_WHEELS if n.startswith("mujoco"))).unlink()
    with pytest.raises(FileNotFoundError, match=r"mujoco==3.17.0 are missing.*pip download"):
        gpu.chapter_wheel_files("08-omnipush", download=False)


def test_a_chapter_without_datasets_declares_an_empty_tuple():
    assert gpu.chapter_datasets("10-neural-mmo") == ()
