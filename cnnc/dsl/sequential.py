"""A Sequential-style helper over the functional DSL.

    net = Sequential("lenet", (1, 1, 28, 28))
    net.add(conv, 6, 5, padding="same", activation="relu").add(max_pool, 2)
    g = net.build()

Each ``add(fn, *args, **kwargs)`` applies ``fn(current, *args, **kwargs)``; errors name the
layer and the line of the ``add`` call.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import Graph
from .model import Model, Tensor


class Sequential:
    def __init__(self, name: str, input_shape: Sequence[int], *, input_name: str = "input",
                 output_name: str = "output", seed: int = 0):
        self.model = Model(name, seed=seed)
        self.output_name = output_name
        self.current: Tensor = self.model.input(input_name, input_shape)

    def add(self, fn: Callable[..., Tensor], *args, **kwargs) -> "Sequential":
        self.current = fn(self.current, *args, **kwargs)
        return self

    def build(self) -> Graph:
        if not self.model.graph.outputs:
            self.model.output(self.current, self.output_name)
        return self.model.build()
