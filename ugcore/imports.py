"""The one `module:attr` importer (custom models, checkpoint loaders, adapter factories, task builders).

Saved files name code by string (a checkpoint's `ugbench_model.json` holds {"loader": "module:function"}), so a
module that moves must keep its old name loading: MOVED maps each old module path to its new home. The
mapping is a string table, not an import, so it adds no arrow between packages.
"""

from __future__ import annotations

import importlib
import re

from ugcore.errors import UserError

SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: old module path -> new module path, for `module:attr` strings written into files before a move.
MOVED: dict[str, str] = {
    # issue 13: the CSSR model and trainer left the benchmark for uge; the StreetSem data readers went down to
    # ugdata. CSSR checkpoints saved before name "ugbench.streetsem.model:load_checkpoint".
    "ugbench.streetsem.model": "uge.cssr.model",
    "ugbench.streetsem.encoder": "uge.cssr.encoder",
    "ugbench.streetsem.losses": "uge.cssr.losses",
    "ugbench.streetsem.train": "uge.cssr.train",
    "ugbench.streetsem.data": "ugdata.streetsem.data",
    "ugbench.streetsem.features": "ugdata.streetsem.features",
    "ugbench.streetsem.geohash": "ugdata.streetsem.geohash",
    "ugbench.streetsem.lmdb_store": "ugdata.streetsem.lmdb_store",
    "ugbench.streetsem.sources": "ugdata.streetsem.sources",
    "ugbench.streetsem.splits": "ugdata.streetsem.splits",
    "ugbench.streetsem.synthetic": "ugdata.streetsem.synthetic",
}


def is_spec(s: str) -> bool:
    """True for a well-formed `module:attr` string (dotted module, dotted attribute)."""
    return bool(SPEC.match(str(s).strip()))


def import_attr(spec: str, *, what: str = "object"):
    """The object named by `module:attr` (attr may be dotted), following MOVED; UserError naming the spec and
    what is missing (module, or attribute) otherwise."""
    mod_name, sep, attr = str(spec).strip().partition(":")
    if not sep or not mod_name or not attr:
        raise UserError(f"'{spec}' is not `module:attr` (the {what} is named as e.g. `my_pkg.models:build`)")
    mod_name = MOVED.get(mod_name, mod_name)
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise UserError(f"{what} '{spec}': cannot import {mod_name} ({e})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"{what} '{spec}': module '{mod_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj
