"""A custom model from `module:attr`: attr is a model object, a class, or a factory returning a model.

Classes and factories are called with the keyword options that they accept (e.g. `device`).
"""

from __future__ import annotations

import inspect

from ugcore.errors import UserError
from ugcore.imports import import_attr as _import_attr
from ugcore.imports import is_spec as _is_spec

from .registry import register


def _call(factory, options, spec: str = "?"):
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return factory()
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    try:  # a function that needs arguments of its own (e.g. `json:dumps`) is not a model factory
        sig.bind(**options)
    except TypeError as e:
        raise UserError(
            f"`{spec}` is a {'class' if inspect.isclass(factory) else 'function'} that cannot be called with "
            f"only keyword options ({e}); `module:attr` must name a ugbench model object, a model class or a "
            "factory returning one (see ugcore/protocol.py)"
        ) from None
    return factory(**options)


def check_model(obj, where: str):
    if getattr(obj, "meta", None) is None or not callable(getattr(obj, "encode", None)):
        raise UserError(
            f"{where} gave {type(obj).__name__}, which is not a ugbench model: it needs `.meta` "
            "(ugbench.ModelMeta) and `.encode(items, *, task_name, side, instruction, batch_size)`"
        )
    return obj


def import_attr(spec: str):
    """A model's `module:attr` (ugcore.imports, the one importer)."""
    return _import_attr(spec, what="model")


@register(
    "custom", matches=_is_spec, priority=10, description="`module:attr`: a model object, class or factory"
)
def load(name_or_path: str, *, device=None, **options):
    if not _is_spec(name_or_path):
        raise UserError(f"custom models are given as `module:attr` (got '{name_or_path}')")
    obj = import_attr(name_or_path)
    if inspect.isclass(obj) or (callable(obj) and not hasattr(obj, "encode")):
        obj = _call(obj, {"device": device, **options}, name_or_path)
    return check_model(obj, f"`{name_or_path}`")
