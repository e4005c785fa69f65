"""`ugbench submit` refuses results whose data `ugbench evaluate` did not verify against its fingerprint."""

from __future__ import annotations

import pytest
from lb_helpers import PERC, edit_json, make_spec, random_scores, write_results

from ugbench.leaderboard import SubmissionRejected, submit


@pytest.mark.parametrize("how", ["missing", "false"])
def test_submit_refuses_results_without_verified_data(tmp_path, how):
    lb = tmp_path / "lb" / "ugbench.json"
    lb.parent.mkdir()
    spec = make_spec(lb.parent / "ugbench.benchmark.json")
    d = write_results(tmp_path / "res", spec, "model-a", random_scores(1))

    def unverify(r):
        if how == "missing":
            r["provenance"].pop("data_verified")
        else:
            r["provenance"]["data_verified"] = False

    edit_json(d / f"{PERC}.json", unverify)
    with pytest.raises(SubmissionRejected) as e:
        submit(d, lb)
    assert f"{PERC}.json" in str(e.value) and "not verified" in str(e.value)
    assert not lb.exists() or "model-a" not in lb.read_text()
