"""The vision-language backbone layer that uge (training) and ugbench (evaluation) both stand on.

Public API (see backbone.py for the contract): `load_backbone`, `Backbone`, graph-token helpers, tiny offline
backbones built from the YAML configs shipped as package data in `configs/`. The modules beside it are the
pieces: `families` (per-family prompt/pooling table), `sources` (names, hub ids, folders, adapters -> a
loadable source), `tiny` (configs built into the cache: random-weight tiny ones and MiniLM-VLM), `minivlm`
(MiniLM-VLM's model, processor and build: the real all-MiniLM-L6-v2 behind a small vision tower), `lora`,
`processors`.
"""

from .backbone import *  # noqa: F403
from .backbone import __all__  # noqa: F401
