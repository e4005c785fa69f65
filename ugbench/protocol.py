"""Compatibility home of the model protocol for adapter authors: `from ugbench.protocol import EncodeItem, ...`
keeps working. The protocol itself lives in ugcore.protocol, the ground both uge and ugbench stand on."""

from ugcore.protocol import *  # noqa: F403
from ugcore.protocol import __all__  # noqa: F401
