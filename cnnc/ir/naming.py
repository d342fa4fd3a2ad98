"""C-safe, unique names.

Names from a model (ONNX tensor names, DSL labels) are arbitrary strings: quotes, ``*/``,
newlines, non-ASCII, C keywords.  Every node of the IR is keyed by a name made here, which
is a valid C identifier that is not a keyword and not reserved (no leading underscore,
no ``cnnc_`` prefix, which the runtime owns).  The original string is kept separately as
the node's label and only ever reaches generated code through :func:`comment_safe`.
"""
from __future__ import annotations

import re

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic
_Imaginary _Noreturn _Static_assert _Thread_local asm bool true false NULL main errno
""".split())

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_RESERVED_PREFIXES = ("cnnc_", "CNNC_")
_MAX_LEN = 48


def is_c_safe(name: str) -> bool:
    """True when ``name`` may be used verbatim as a C identifier by generated code."""
    return (bool(_IDENT.match(name)) and name not in C_KEYWORDS
            and not name.startswith(_RESERVED_PREFIXES) and "__" not in name
            and len(name) <= _MAX_LEN)


def sanitize(label: str) -> str:
    """A C-safe identifier resembling ``label`` (not yet unique)."""
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(label)).strip("_")
    s = s[:_MAX_LEN - 8].rstrip("_") or "t"
    if not s[0].isalpha():
        s = "t" + s
    if not is_c_safe(s):
        s = "v_" + s
    return s


def comment_safe(text: str, limit: int = 80) -> str:
    """``text`` made safe to place inside a C block comment or a single-line string dump."""
    s = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text))
    s = s.replace("*/", "*?").replace("/*", "?*").replace("\\", "/")
    return s if len(s) <= limit else s[:limit - 3] + "..."


class Namespace:
    """Hands out unique C-safe names, remembering those already taken."""

    def __init__(self, taken=()):
        self._taken: set[str] = set(taken)

    def take(self, label: str) -> str:
        base = sanitize(label)
        name, i = base, 1
        while name in self._taken:
            name = f"{base}_{i}"
            i += 1
        self._taken.add(name)
        return name

    def release(self, name: str) -> None:
        self._taken.discard(name)

    def copy(self) -> "Namespace":
        return Namespace(self._taken)
