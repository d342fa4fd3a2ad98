"""examples/embed_c builds and runs with only cc and make."""
import shutil
import subprocess
from pathlib import Path

import numpy as np

from cnnc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_embed_c_example(tmp_path):
    work = tmp_path / "embed_c"
    shutil.copytree(ROOT / "examples" / "embed_c", work)
    assert main(["compile", str(ROOT / "examples" / "lenet.py"), "--target", "c", "--weights", "c",
                 "-o", str(work / "model"), "-q"]) == 0
    subprocess.run(["make", "-s"], cwd=work, check=True, env={"PATH": "/usr/bin:/bin", "CC": "cc"})
    out = subprocess.run([str(work / "classify")], capture_output=True, text=True, check=True).stdout
    assert out.startswith("top class: ")
    raw = work / "digit.raw"
    np.zeros((28, 28), np.float32).tofile(raw)
    out = subprocess.run([str(work / "classify"), str(raw)], capture_output=True, text=True, check=True).stdout
    assert out.startswith("top class: ")
    bad = subprocess.run([str(work / "classify"), str(work / "missing.raw")], capture_output=True, text=True)
    assert bad.returncode == 1 and "cannot read" in bad.stderr
