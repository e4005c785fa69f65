"""What a runner needs: the data, the encoder, the seed, the splits asked for, and the task's data spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ugcore.errors import DataError

from ..encoding import Encoder


@dataclass
class RunContext:
    ud: Any  # ugdata.UGData
    encoder: Encoder
    seed: int = 0
    splits: list[str] | None = None  # None: the task's own splits
    timings: dict[str, float] = field(default_factory=dict)
    instructions: dict[str, str | None] = field(default_factory=dict)  # filled by the runner
    skipped_splits: dict[str, str] = field(default_factory=dict)  # split -> why it could not be scored
    # per-query (per-pair) metric values, one frame per runner call: columns split, query_id, metric...
    per_query: list = field(default_factory=list)
    save_predictions: bool = False  # `--save-predictions`: runners fill `predictions` (see evaluation.write_predictions)
    predictions: dict = field(default_factory=dict)

    def spec(self, meta):
        """The task's data facts (task.json); its scoring facts are `meta`'s alone."""
        return self.ud.task_spec(meta.data_task)

    def instruction(self, meta, spec, side: str) -> str | None:
        """The data's instruction for `side`; a query-mode task's own ("query:text") where the data has one,
        since a text-only query must not be told it is a street view."""
        mode = getattr(meta, "query_mode", None)
        inst = (spec.instructions.get(f"{side}:{mode}") if mode else None) or spec.instructions.get(side)
        self.instructions[side] = inst or None
        return inst or None

    def pick_splits(self, meta, spec, available: list[str], table_path: str) -> list[str]:
        wanted = list(self.splits or spec.splits)
        present = [s for s in wanted if s in available]
        if not present:
            raise DataError(f"task '{meta.name}': none of the splits {wanted} occur in {table_path} "
                            f"(it has {sorted(available)})")
        return present
