"""The ground floor that ugdata, uge and ugbench stand on: nothing here imports any of them.

- `protocol`: the model protocol (EncodeItem, GraphContext, ModelMeta, EncoderProtocol), MTEB-style: what
  ugbench scores and what a UGE checkpoint implements.
- `backbones`: the vision-language backbone layer (loading, pooling, LoRA, graph soft tokens, tiny offline
  configs as package data), used by uge to train and by ugbench to evaluate.
- the common kit: `errors` (one hierarchy), `atomic` (atomic files and folders), `shared` (one cache root,
  build locks), `provenance`, `geo`, `cli` (one-line errors, exit codes), `faults` (test-only kill points).

Data flows ugdata -> uge -> checkpoint -> ugbench; the imports go only downwards to here, and uge and ugbench
never import each other (tests/test_layout.py).
"""
