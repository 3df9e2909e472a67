"""The notebook regression catches a real change: a mutated library fails nbval.

The mutation is the one a tolerance must not hide: the uniformity loss reports a value shifted
by log 2. Training is unchanged (a constant has no gradient), so every trained number still
replays within its tolerance and only the reported uniformity values are off.
"""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "book/03-hypersphere/02-hypersphere-plots.ipynb"

MUTATION = '''
import math
import reprobook.losses as losses
import reprobook.losses.hypersphere as hypersphere

_uniform_loss = hypersphere.uniform_loss

def uniform_loss(*args, **kwargs):          # reports log 2 more; same gradient
    return _uniform_loss(*args, **kwargs) + math.log(2)

hypersphere.uniform_loss = losses.uniform_loss = uniform_loss
'''


def run_nbval(notebook: str, ipython_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "IPYTHONDIR": str(ipython_dir)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "reprobook.run.nbval_plugin",
         "--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
         "--nbval-cell-timeout", "600", notebook],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)


def test_uniformity_shifted_by_log2_fails_the_regression(tmp_path, data_root):
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-mutate.py").write_text(MUTATION)
    result = run_nbval(NOTEBOOK, tmp_path / "ipython")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    assert "reported numbers outside their tolerance" in out, out[-3000:]
    # the table's uniform column and the reported metrics, each with its twin, new value and rule
    assert "summary.uniform [row supervised]" in out, out[-3000:]
    assert "uniform_contrastive: twin" in out, out[-3000:]
    # what training produced is untouched by the mutation: no accuracy or alignment is flagged
    flagged = {line.split(": ")[1].split(" [")[0] for line in out.splitlines() if ": twin " in line}
    assert flagged and all(q.startswith(("uniform_", "summary.uniform")) for q in flagged), flagged
    assert "2 failed" in out, out[-3000:]        # the table cell and the report cell, nothing else
