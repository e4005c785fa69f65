"""The shared fetch skeleton: ViewWriter (verified atomic images, resumable journal, views.csv the builder
reads) and thinning / de-duplication."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from PIL import Image

from ugdata.fetch.output import VIEW_COLUMNS, ViewRecord, ViewWriter, image_file_name, verify_image
from ugdata.fetch.thin import dedup, thin_sequences


def jpeg(color=(200, 10, 10), size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def rec(i: str, lat=60.1665, lon=24.94, heading=90.0, seq="s1", t="2021-06-01T12:00:00Z") -> ViewRecord:
    return ViewRecord(id=i, lat=lat, lon=lon, heading=heading, fov=None, captured_at=t, city="helsinki",
                      source="mapillary", license="CC BY-SA 4.0", creator="alice",
                      attribution_url=f"https://www.mapillary.com/app/?pKey={i}", sequence=seq, is_pano=False,
                      file=image_file_name(i))


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_writer_keeps_verified_rejects_bad_and_writes_table(tmp_path):
    w = ViewWriter(tmp_path / "out", source="mapillary", query={"bbox": [1, 2, 3, 4]})
    good = jpeg()
    assert w.add(rec("1"), good)
    assert not w.add(rec("2"), b"not a jpeg at all")
    assert not w.add(rec("3"), good[: len(good) // 2])  # cut short
    assert not w.add(rec("4"), good, expected_size=len(good) + 100)
    meta = w.finish(counts={"found": 4})
    out = tmp_path / "out"
    rows = read_csv(out / "views.csv")
    assert list(rows[0]) == list(VIEW_COLUMNS)
    assert [r["id"] for r in rows] == ["1"]
    assert (out / "images" / rows[0]["file"]).read_bytes() == good
    assert not (out / "images" / "2.jpg").exists() and not (out / "images" / "3.jpg").exists()
    rej = {r["id"]: r["reason"] for r in read_csv(out / "rejects.csv")}
    assert rej["2"].startswith("corrupt") and rej["3"].startswith("truncated") and rej["4"].startswith("truncated")
    fj = json.loads((out / "fetch.json").read_text())
    assert fj == meta and fj["complete"] is True and fj["counts"]["kept"] == 1 and fj["counts"]["rejected"] == 3
    assert fj["licenses"] == {"CC BY-SA 4.0": 1}


def test_writer_resumes_and_tolerates_torn_journal(tmp_path):
    out = tmp_path / "out"
    w = ViewWriter(out, source="mapillary")
    w.add(rec("a"), jpeg((1, 2, 3)))
    w.add(rec("b"), jpeg((4, 5, 6)))
    w.close()  # killed: no finish
    assert json.loads((out / "fetch.json").read_text())["complete"] is False
    with open(out / "journal.jsonl", "a") as fh:
        fh.write('{"id": "c", "byt')  # torn last line
    (out / "images" / "b.jpg").write_bytes(jpeg((9, 9, 9)))  # changed behind our back: not verified any more
    w2 = ViewWriter(out, source="mapillary")
    assert w2.is_done("a") and not w2.is_done("b") and not w2.is_done("c")
    assert w2.resumed == 1 and w2.dropped == 1
    w2.add(rec("b"), jpeg((4, 5, 6)))
    w2.finish()
    assert [r["id"] for r in read_csv(out / "views.csv")] == ["a", "b"]
    for line in (out / "journal.jsonl").read_text().splitlines():
        json.loads(line)  # the torn line was cut off before appending


def test_writer_refuses_other_source(tmp_path):
    from ugcore.errors import UserError

    ViewWriter(tmp_path, source="mapillary").finish()
    with pytest.raises(UserError, match="mapillary"):
        ViewWriter(tmp_path, source="osv5m")


def test_image_file_name_safe():
    assert image_file_name("123") == "123.jpg"
    a, b = image_file_name("../x"), image_file_name("__x")
    assert "/" not in a and a != b


def test_verify_image():
    assert verify_image(jpeg()) is None
    assert verify_image(b"").startswith("empty")
    assert verify_image(jpeg()[:-200]).startswith(("truncated", "corrupt"))


def test_dedup_same_id_and_same_pose():
    a = rec("a")
    b = replace(rec("b"), lat=a.lat + 1e-6)  # ~0.1 m, same heading: a duplicate
    c = replace(rec("c"), lat=a.lat + 1e-6, heading=180.0)  # same place, other direction: kept
    d = replace(rec("d"), lat=a.lat + 1e-4)  # 11 m away: kept
    kept, dups = dedup([d, c, b, a, a])
    assert [v.id for v in kept] == ["a", "c", "d"] and dups == 2
    assert dedup([a, b, c, d, a])[0] == kept  # order-independent


def test_thin_sequences():
    # 10 views 2 m apart along one sequence, plus one view with no sequence
    seq = [replace(rec(f"v{i}", t=f"2021-06-01T12:00:{i:02d}Z"), lat=60.1665 + i * 2 / 111_320) for i in range(10)]
    lone = replace(rec("z"), sequence=None)
    kept, thinned = thin_sequences(seq[::-1] + [lone], 5.0)
    assert [v.id for v in kept] == ["z", "v0", "v3", "v6", "v9"]
    assert thinned == 6
    assert thin_sequences(seq, 0)[1] == 0
