"""Passes and the pass manager.

A pass is a pure function ``Graph -> Graph`` with a declared contract (torch.fx's
``requires``/``ensures``): ``requires`` and ``ensures`` name *properties*, each a predicate
over a graph (``PROPERTIES``), so a contract is checked, not just stated.  The manager runs
a pipeline and, after each pass, checks that the input graph was left untouched, verifies
the IR, checks the pass's ``ensures``, and records statistics; a failure names the pass.
It can dump the IR after every pass, as text and as a DOT and an SVG picture.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..ir import CnncError, Graph, VerifyError, get_op
from .render import write_pictures

PROPERTIES: dict[str, Callable[[Graph], bool]] = {}


def graph_property(name: str):
    """Register a named predicate that passes may require or ensure."""
    def deco(fn):
        PROPERTIES[name] = fn
        return fn
    return deco


@dataclass(frozen=True)
class Pass:
    """A named pure graph transformation with a checked contract."""

    name: str
    fn: Callable[[Graph], Graph]
    requires: tuple[str, ...] = ()
    ensures: tuple[str, ...] = ()
    doc: str = ""

    def __call__(self, g: Graph) -> Graph:
        return self.fn(g)


PASSES: dict[str, Pass] = {}


def graph_pass(name: str, *, requires: Iterable[str] = (), ensures: Iterable[str] = ()):
    """Decorator: register ``fn(graph) -> graph`` as the pass ``name``."""
    def deco(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        for prop in (*requires, *ensures):
            if prop not in PROPERTIES:
                raise ValueError(f"pass {name!r} names unknown property {prop!r}")
        PASSES[name] = Pass(name, fn, tuple(requires), tuple(ensures), (fn.__doc__ or "").strip())
        return PASSES[name]
    return deco


def get_pass(name: str) -> Pass:
    try:
        return PASSES[name]
    except KeyError:
        raise CnncError(f"unknown pass {name!r}; passes: {', '.join(sorted(PASSES))}") from None


# ---------------------------------------------------------------- statistics
def graph_flops(g: Graph) -> int:
    total = 0
    for n in g.nodes():
        if n.op in ("Input", "Constant"):
            continue
        ins = [g.type_of(v) for v in g.operands(n.name)]
        total += get_op(n.op).cost(ins, n.attrs, n.types)
    return total


def graph_bytes(g: Graph) -> tuple[int, int]:
    """(constant bytes, activation bytes: every non-constant value once)."""
    const = act = 0
    for n in g.nodes():
        size = sum(t.nbytes for t in n.types)
        if n.op == "Constant":
            const += size
        else:
            act += size
    return const, act


@dataclass
class PassStats:
    name: str
    nodes_before: int
    nodes_after: int
    flops_before: int
    flops_after: int
    weight_bytes: int
    activation_bytes: int
    seconds: float

    def line(self) -> str:
        ratio = self.flops_before / self.flops_after if self.flops_after else float("inf")
        return (f"{self.name:24s} nodes {self.nodes_before:5d} -> {self.nodes_after:5d}  "
                f"FLOPs {self.flops_before:.4g} -> {self.flops_after:.4g} ({ratio:.2f}x)  "
                f"weights {self.weight_bytes / 1e6:.2f} MB  activations "
                f"{self.activation_bytes / 1e6:.2f} MB  {self.seconds * 1e3:.0f} ms")


@dataclass
class Report:
    stats: list[PassStats] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(s.line() for s in self.stats)


def _fingerprint(g: Graph):
    """What a pass must not change in its input: node records (by identity) and edges."""
    return ({n: id(d["node"]) for n, d in g.nx.nodes(data=True)},
            sorted((u, v, d["src_port"], d["dst_port"]) for u, v, d in g.nx.edges(data=True)),
            tuple(g.outputs), tuple(g.inputs))


def check_properties(g: Graph, props: Iterable[str], what: str) -> None:
    failed = [p for p in props if not PROPERTIES[p](g)]
    if failed:
        raise CnncError(f"{what}: propert{'ies' if len(failed) > 1 else 'y'} "
                        f"{', '.join(failed)} do{'' if len(failed) > 1 else 'es'} not hold")


class PassManager:
    """Runs passes in order. ``verify`` checks purity, the IR and each pass's ``ensures``
    after every pass (tests always verify); ``dump_dir`` writes ``NN_<pass>.txt/.dot/.svg``
    after every pass (``00_input.*`` first)."""

    def __init__(self, passes: Sequence[Pass | str], *, verify: bool = True,
                 dump_dir: str | Path | None = None):
        self.passes = [get_pass(p) if isinstance(p, str) else p for p in passes]
        self.verify = verify
        self.dump_dir = Path(dump_dir) if dump_dir is not None else None

    def run(self, g: Graph) -> tuple[Graph, Report]:
        report = Report()
        if self.dump_dir is not None:
            self.dump_dir.mkdir(parents=True, exist_ok=True)
            self._dump(g, 0, "input")
        for i, p in enumerate(self.passes, 1):
            check_properties(g, p.requires, f"pass {p.name!r} cannot run")
            before = _fingerprint(g) if self.verify else None
            flops_before, nodes_before = graph_flops(g), len(g)
            t0 = time.perf_counter()
            try:
                out = p(g)
            except CnncError as e:
                raise e.at(f"pass {p.name!r}") from None
            seconds = time.perf_counter() - t0
            if not isinstance(out, Graph):
                raise CnncError(f"pass {p.name!r} returned {type(out).__name__}, not a Graph")
            if self.verify:
                if _fingerprint(g) != before:
                    raise CnncError(f"pass {p.name!r} modified its input graph (passes must be pure)")
                try:
                    out.verify()
                except VerifyError as e:
                    raise VerifyError(f"pass {p.name!r} broke the IR: {e}") from None
                check_properties(out, p.ensures, f"pass {p.name!r} broke its contract")
            w, act = graph_bytes(out)
            report.stats.append(PassStats(p.name, nodes_before, len(out), flops_before,
                                          graph_flops(out), w, act, seconds))
            if self.dump_dir is not None:
                self._dump(out, i, p.name)
            g = out
        return g, report

    def _dump(self, g: Graph, index: int, name: str) -> None:
        stem = self.dump_dir / f"{index:02d}_{name}"
        stem.with_suffix(".txt").write_text(g.dump() + "\n")
        write_pictures(g, stem)
