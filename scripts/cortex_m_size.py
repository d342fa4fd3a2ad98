"""Build check for microcontrollers: the generic C99 of small models compiled with Debian's
``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard`` (weights as C arrays, one
worker), printing each model's .text, .rodata and arena bytes.  .ci/run runs it; the test
suite checks it too (tests/backends/test_c_firmware.py).

    python scripts/cortex_m_size.py [MODEL.py ...]    (default: examples/lenet.py, edge_gabor.py)
"""
from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "examples" / "lenet.py", ROOT / "examples" / "edge_gabor.py"]
CC = "arm-none-eabi-gcc"
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
         "-mfpu=fpv4-sp-d16"]


def sizes(model: Path, tmp: Path) -> tuple[str, int, int, int]:
    """(model name, .text, .rodata, arena bytes) of the model's Cortex-M4 object."""
    import cnnc
    from cnnc.backends import c as cb
    from cnnc.backends.base import read_manifest
    g = cnnc.optimize(runpy.run_path(str(model))["build"]())
    folder = cb.generate(g, tmp / model.stem, cpu="generic", weights="c", threads=1)
    m = read_manifest(folder)[0]
    subprocess.run([CC, *FLAGS, "-c", f"{m['model']}.c", "-o", "model.o"], cwd=folder, check=True)
    out = subprocess.run(["arm-none-eabi-size", "-A", "model.o"], cwd=folder, check=True, capture_output=True,
                         text=True).stdout
    sec = {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    return m["model"], sec.get(".text", 0), sec.get(".rodata", 0), int(m["arena_bytes"])


def main(argv: list[str]) -> int:
    if shutil.which(CC) is None:
        print(f"cortex-m: {CC} is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)",
              file=sys.stderr)
        return 1
    models = [Path(a) for a in argv] or DEFAULT
    with tempfile.TemporaryDirectory(prefix="cnnc_cortex_m_") as tmp:
        print(f"{'model':<12} {'.text':>8} {'.rodata':>9} {'arena':>8}   ({CC} {' '.join(FLAGS[5:])})")
        for model in models:
            name, text, rodata, arena = sizes(model, Path(tmp))
            print(f"{name:<12} {text:>8} {rodata:>9} {arena:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
