"""Coverage-guided fuzzing of ``cnnc.load_onnx`` with atheris (libFuzzer for Python), by hand:

    pip install atheris
    python tests/fuzz/atheris_load_onnx.py CORPUS_DIR -max_total_time=600

The corpus folder is seeded with the mutation fuzzer's seeds (``fuzzlib.seed_models``) when
empty.  Every input is written to one file in a private folder and loaded from there (the
way users load models: external data resolves beside it).  An input may be refused with a
CnncError; any other exception is a finding, and libFuzzer stops and saves the input.
"""
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import cnnc
    from cnnc.ir import CnncError

# cnnc's limits well below libFuzzer's default RSS limit (2 GB), so that an input which gets
# past them to a large allocation is what libFuzzer reports
cnnc.LIMITS.tensor_bytes, cnnc.LIMITS.constant_bytes = 256 << 20, 768 << 20
WORK = Path(tempfile.mkdtemp(prefix="cnnc_atheris_"))
MODEL = WORK / "m.onnx"


def test_one_input(data: bytes) -> None:
    MODEL.write_bytes(data)
    try:
        cnnc.load_onnx(MODEL)
    except CnncError:
        pass


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    if args:
        corpus = Path(args[0])
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from fuzzlib import seed_models
            for name, data in seed_models().items():
                (corpus / f"{name}.onnx").write_bytes(data)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
