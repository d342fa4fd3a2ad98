"""Registry-wide checks that walk every op."""
import re
from pathlib import Path

import pytest

from cnnc.ir import all_ops

# DESIGN.md, "The seed's CNN": every one of these is an IR op.
SEED_OPS = """
Conv ConvTranspose LocalConv TiledConv MaxPool AveragePool LpPool LSEPool WeightedAvgPool
GlobalAveragePool GlobalMaxPool GlobalLpPool SpatialPyramidPool MaxRoiPool Relu LeakyRelu PRelu
Sigmoid HardSigmoid HardSwish Silu Tanh Gelu Clip Softmax BatchNormalization
LayerNormalization InstanceNormalization GroupNormalization LRN Gemm Flatten Concat Add Resize
Dropout
""".split()

TESTS = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))


def test_seed_ops_are_registered():
    missing = sorted(set(SEED_OPS) - set(all_ops()))
    assert not missing, f"seed ops without an OpDef: {missing}"


@pytest.mark.parametrize("name", sorted(set(all_ops()) - {"Input", "Constant"}))
def test_every_op_is_documented_and_tested(name):
    op = all_ops()[name]
    assert op.doc, f"{name} has no doc"
    assert op.inputs and all(re.fullmatch(r"\w+[?*]?", i) for i in op.inputs)
    assert re.search(rf"[\"']{name}[\"']", TESTS), f"no test under tests/ops/ names {name!r}"
    for attr, spec in op.attrs.items():
        assert spec.kind in ("int", "float", "str", "bool", "ints", "floats", "strs", "tensor"), attr
