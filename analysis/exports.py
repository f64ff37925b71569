"""The public names of a subpackage, imported from its modules when first asked for.

Each subpackage's ``__init__`` says which of its modules provides which public name::

    __all__, __getattr__, __dir__ = public_names(__name__, {
        "columns": ["ColumnRef", "ModelLineage", "Upstream"],
        "meshlineage": ["MeshLineage", "mesh_lineage"],
    })

``from analysis.lineage import ModelLineage`` then imports ``analysis.lineage.columns`` (that
module alone) the first time the name is asked for, through the package's module-level
``__getattr__`` (PEP 562), and keeps it in the package: later look-ups are plain attribute
reads. Code outside a subpackage imports these names, never the modules behind them (a test,
``tests/test_layout.py``, checks it).

Why not import every name in ``__init__``: importing one module of a package runs its
``__init__`` first, so the webhook process (which needs ``bot.jobs.State``) would load the
whole analysis, sqlglot included, and ``bot.jobs`` and ``bot.github``, which use each other's
names, could not be imported at all.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence


def public_names(package: str, modules: Mapping[str, Sequence[str]]
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` exporting ``modules`` (module name
    relative to the package -> the public names it defines)."""
    where = {name: module for module, names in modules.items() for name in names}
    repeated = [n for n, k in Counter(n for names in modules.values() for n in names).items() if k > 1]
    # a public name equal to a module's would be shadowed by the module once it is imported
    shadowed = set(where) & {m.name for m in pkgutil.iter_modules(sys.modules[package].__path__)}
    if repeated or shadowed:
        raise ValueError(f"{package}: public names named twice {sorted(repeated)} or like a module {sorted(shadowed)}")

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return sorted(where), __getattr__, __dir__
