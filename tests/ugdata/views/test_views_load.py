"""Street-view ingestion on small tables and images written by the tests (CSV, Parquet, GeoJSON, EXIF)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from ugcore.errors import DataError, UserError
from ugdata.format import REJECT_COLUMNS
from ugdata.views import ROW_COLUMNS, load_views, read_exif_position


def _jpeg(path: Path, colour=(120, 130, 140), exif: Image.Exif | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (40, 30), colour)
    im.save(path, format="JPEG", **({"exif": exif} if exif is not None else {}))
    return path


def _gps_exif(lat: float, lon: float, heading: float | None = None, when: str | None = None) -> Image.Exif:
    """EXIF with GPS written the way cameras do: degrees/minutes/seconds rationals plus N/S, E/W refs."""

    def dms(x: float):
        x = abs(x)
        d = int(x)
        m = int((x - d) * 60)
        s = (x - d - m / 60) * 3600
        return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 10000), 10000))

    gps = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
    if heading is not None:
        gps[16] = "T"
        gps[17] = IFDRational(round(heading * 100), 100)
    exif = Image.Exif()
    exif[0x8825] = gps
    if when is not None:
        exif[0x8769] = {36867: when}
    return exif


def _reject(result, image_id: str) -> dict:
    hits = result.rejects[result.rejects["image_id"] == image_id]
    assert len(hits) == 1, f"expected one reject for {image_id}, got {len(hits)}:\n{result.rejects}"
    return hits.iloc[0].to_dict()


@pytest.fixture
def messy(tmp_path: Path) -> tuple[Path, Path]:
    """A CSV with one good row and one row per kind of problem."""
    images = tmp_path / "imgs"
    for name in ("good", "dup", "nolat", "badlon", "farlat", "hdg", "badfov", "neg"):
        _jpeg(images / f"{name}.jpg")
    _jpeg(images / "png_one.png")
    # Truncated JPEG: a real JPEG cut in half (Image.open succeeds, decoding fails).
    full = _jpeg(tmp_path / "full.jpg").read_bytes()
    (images / "trunc.jpg").write_bytes(full[: len(full) // 2])
    (images / "text.jpg").write_text("this is not an image\n")
    csv = tmp_path / "views.csv"
    csv.write_text(
        "id,latitude,lng,compass_angle,fov,timestamp,city\n"
        "good,60.17,24.94,10,90,2021-05-01T12:00:00,Helsinki\n"  # row 1
        "dup,60.18,24.95,,,,\n"  # row 2
        "dup,60.19,24.96,,,,\n"  # row 3: duplicate id
        "nolat,,24.95,,,,\n"  # row 4: empty lat
        "badlon,60.1,east,,,,\n"  # row 5: lon not a number
        "farlat,95.5,24.9,,,,\n"  # row 6: lat out of range
        "missing,60.1,24.9,,,,\n"  # row 7: no image file
        "trunc,60.1,24.9,,,,\n"  # row 8: truncated JPEG
        "text,60.1,24.9,,,,\n"  # row 9: text file named .jpg
        "hdg,60.1,24.9,-90,,,\n"  # row 10: heading normalised to 270
        "badfov,60.1,24.9,,0,,\n"  # row 11: fov out of (0, 360]
        "png_one,60.1,24.9,360,,1622548800000,\n"  # row 12: .png found, 360 -> 0, epoch ms
        ",60.1,24.9,,,,\n"  # row 13: empty id
        "neg,-33.9,-151.2,abc,,,\n"  # row 14: heading not a number
    )
    return csv, images


def test_every_bad_row_is_rejected_with_reason_and_row(messy):
    csv, images = messy
    res = load_views(csv, images, city="Default City")
    assert list(res.rows.columns) == list(ROW_COLUMNS)
    assert tuple(res.rejects.columns) == REJECT_COLUMNS
    assert set(res.rows["image_id"]) == {"good", "dup", "hdg", "png_one"}
    assert (res.rejects["stage"] == "views").all()
    assert (res.rejects["source"] == str(csv)).all()

    expected = {
        # image_id: (row, reason kind, a detail the message must name)
        "nolat": (4, "missing lat", "empty"),
        "badlon": (5, "invalid lon", "'east'"),
        "farlat": (6, "lat out of range", "95.5"),
        "missing": (7, "image file not found", "missing.{jpg"),
        "trunc": (8, "undecodable image", "trunc.jpg"),
        "text": (9, "undecodable image", "text.jpg"),
        "badfov": (11, "invalid fov", "'0'"),
        "neg": (14, "invalid heading", "'abc'"),
    }
    for image_id, (row, kind, detail) in expected.items():
        r = _reject(res, image_id)
        assert r["row"] == row, (image_id, r)
        assert r["reason"].startswith(kind + ":"), r["reason"]
        assert detail in r["reason"], r["reason"]
    dup = res.rejects[res.rejects["image_id"] == "dup"].iloc[0]
    assert dup["row"] == 3 and dup["reason"].startswith("duplicate id:") and "row 2" in dup["reason"]
    empty = res.rejects[res.rejects["image_id"] == ""].iloc[0]
    assert empty["row"] == 13 and empty["reason"].startswith("empty id:")
    # Every input row is accounted for exactly once: nothing dropped silently.
    assert len(res.rows) + len(res.rejects) == 14
    assert sorted(res.rows["row"].tolist() + res.rejects["row"].tolist()) == list(range(1, 15))

    by_id = res.rows.set_index("image_id")
    assert by_id.loc["good", "lat"] == pytest.approx(60.17) and by_id.loc["good", "lon"] == pytest.approx(
        24.94
    )
    assert by_id.loc["good", "heading"] == 10 and by_id.loc["good", "fov"] == 90
    assert by_id.loc["good", "captured_at"] == "2021-05-01T12:00:00"
    assert by_id.loc["good", "city"] == "Helsinki" and by_id.loc["dup", "city"] == "Default City"
    assert by_id.loc["dup", "row"] == 2 and by_id.loc["dup", "lat"] == pytest.approx(60.18)  # the first kept
    assert by_id.loc["hdg", "heading"] == 270.0
    assert by_id.loc["png_one", "heading"] == 0.0
    assert by_id.loc["png_one", "captured_at"] == "2021-06-01T12:00:00Z"
    assert math.isnan(by_id.loc["dup", "heading"]) and math.isnan(by_id.loc["dup", "fov"])
    assert by_id.loc["png_one", "image_path"] == str((images / "png_one.png").resolve())
    assert res.rows["lat"].dtype == "float64" and res.rows["row"].dtype == "int64"

    summary = res.summary()
    assert "4 usable" in summary and "10 rejected" in summary and "2 undecodable image" in summary


def test_nothing_usable_raises_data_error_with_counts(tmp_path):
    csv = tmp_path / "views.csv"
    csv.write_text("id,lat,lon\na,91,0\nb,0,0\nc,0,0\n")
    with pytest.raises(DataError) as e:
        load_views(csv, tmp_path)
    msg = str(e.value)
    assert "views.csv" in msg and "3 rejected" in msg
    assert "2 image file not found" in msg and "1 lat out of range" in msg
    assert "first: row 1: lat out of range" in msg
    assert len(e.value.result.rejects) == 3  # the caller can still write the rejects report


def test_missing_required_column_fails_whole_table(tmp_path):
    csv = tmp_path / "views.csv"
    csv.write_text("id,latitude_deg,lon\na,1,2\n")
    with pytest.raises(UserError, match=r"views.csv: missing column 'lat' \(found: id, latitude_deg, lon\)"):
        load_views(csv, tmp_path)


def test_malformed_tables_raise_data_error_naming_the_file(tmp_path):
    bad_csv = tmp_path / "broken.csv"
    bad_csv.write_text('id,lat,lon\na,1,2\nb,3,4,5,6\n"c,1\n')
    with pytest.raises(DataError, match="broken.csv: cannot read as CSV"):
        load_views(bad_csv, tmp_path)
    bad_parquet = tmp_path / "broken.parquet"
    bad_parquet.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DataError, match="broken.parquet: cannot read as Parquet"):
        load_views(bad_parquet, tmp_path)
    bad_json = tmp_path / "broken.geojson"
    bad_json.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(DataError, match="broken.geojson: cannot read as GeoJSON"):
        load_views(bad_json, tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: the table is empty"):
        load_views(empty, tmp_path)
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,lat,lon\n")
    with pytest.raises(DataError, match="header.csv: the table has no data rows"):
        load_views(header_only, tmp_path)
    with pytest.raises(UserError, match="unsupported table format '.xlsx'"):
        (tmp_path / "views.xlsx").write_bytes(b"PK")
        load_views(tmp_path / "views.xlsx", tmp_path)
    with pytest.raises(UserError, match="not found"):
        load_views(tmp_path / "nope.csv", tmp_path)


def test_parquet_with_mapillary_aliases_and_path_column(tmp_path):
    images = tmp_path / "photos"
    _jpeg(images / "sub" / "x1.jpg")
    _jpeg(images / "other_name.jpg")
    table = tmp_path / "meta.parquet"
    pd.DataFrame(
        {
            "key": [1001, 1002, 1003],
            "Latitude": [49.28, 49.29, 49.30],
            "Longitude": [-123.12, -123.11, -123.10],
            "computed_compass_angle": [45.0, 725.0, float("nan")],
            "captured_at": [1622548800000, None, 1622548800],
            "file": ["sub/x1.jpg", "other_name.jpg", "gone.jpg"],
        }
    ).to_parquet(table)
    res = load_views(table, images, city="Vancouver")
    assert list(res.rows["image_id"]) == ["1001", "1002"]
    assert res.rows["heading"].tolist() == [45.0, 5.0]
    assert res.rows["captured_at"].tolist() == ["2021-06-01T12:00:00Z", ""]
    assert res.rows["image_path"].tolist() == [
        str((images / "sub" / "x1.jpg").resolve()),
        str((images / "other_name.jpg").resolve()),
    ]
    assert (res.rows["city"] == "Vancouver").all()
    r = _reject(res, "1003")
    assert r["row"] == 3 and r["reason"].startswith("image file not found:") and "gone.jpg" in r["reason"]


def test_geojson_points_and_bad_geometry(tmp_path):
    _jpeg(tmp_path / "p1.jpeg")
    _jpeg(tmp_path / "p2.jpg")
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
             "properties": {"image_id": "p1", "heading": 180, "city": "Paris"}},
            {"type": "Feature", "id": "p2", "geometry": {"type": "Point", "coordinates": [2.36, 48.86]},
             "properties": {"yaw": 90}},
            {"type": "Feature", "id": "p3", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
             "properties": {}},
            {"type": "Feature", "id": "p4", "geometry": {"type": "Point", "coordinates": [200.0, 10.0]},
             "properties": {}},
        ],
    }  # fmt: skip
    table = tmp_path / "views.geojson"
    table.write_text(json.dumps(doc))
    res = load_views(table, None)  # images default to the table's folder
    by_id = res.rows.set_index("image_id")
    assert list(by_id.index) == ["p1", "p2"]
    assert by_id.loc["p1", "lat"] == 48.85 and by_id.loc["p1", "lon"] == 2.35  # GeoJSON is lon, lat
    assert by_id.loc["p1", "city"] == "Paris" and by_id.loc["p2", "heading"] == 90.0
    assert _reject(res, "p3")["reason"] == "bad geometry: geometry is not a Point (got LineString)"
    r4 = _reject(res, "p4")
    assert r4["row"] == 4 and r4["reason"].startswith("lon out of range:")


def test_exif_folder(tmp_path):
    folder = tmp_path / "cam"
    _jpeg(folder / "a.jpg", exif=_gps_exif(-33.8598, 151.2083, heading=400.5, when="2021:06:01 10:20:30"))
    _jpeg(folder / "nested" / "b.jpg", exif=_gps_exif(60.1699, -24.9384))
    _jpeg(folder / "nogps.jpg")
    full = _jpeg(tmp_path / "full.jpg", exif=_gps_exif(1, 1)).read_bytes()
    (folder / "cut.jpg").write_bytes(full[: len(full) // 2])
    (folder / "notes.txt").write_text("not an image")

    pos = read_exif_position(folder / "a.jpg")
    assert pos["lat"] == pytest.approx(-33.8598, abs=1e-6) and pos["lon"] == pytest.approx(151.2083, abs=1e-6)

    res = load_views(None, folder, city="Somewhere")
    by_id = res.rows.set_index("image_id")
    assert list(by_id.index) == ["a", "nested/b"]
    assert by_id.loc["a", "lat"] == pytest.approx(-33.8598, abs=1e-6)
    assert by_id.loc["a", "heading"] == pytest.approx(40.5)  # 400.5 normalised
    assert by_id.loc["a", "captured_at"] == "2021-06-01T10:20:30"
    assert by_id.loc["nested/b", "lon"] == pytest.approx(-24.9384, abs=1e-6)
    assert math.isnan(by_id.loc["nested/b", "heading"]) and by_id.loc["nested/b", "captured_at"] == ""
    assert (res.rows["row"] == 0).all() and (res.rows["city"] == "Somewhere").all()
    assert _reject(res, "nogps")["reason"].startswith("no EXIF GPS position:")
    cut = _reject(res, "cut")
    assert (
        cut["row"] == 0
        and cut["reason"].startswith("undecodable image:")
        and cut["source"].endswith("cut.jpg")
    )
    assert res.ignored_files == ["notes.txt"] and "non-image files ignored" in res.summary()


def test_exif_folder_without_gps_raises(tmp_path):
    _jpeg(tmp_path / "x.jpg")
    with pytest.raises(DataError, match=r"no usable street views \(1 rejected: 1 no EXIF GPS position\)"):
        load_views(None, tmp_path)


def test_nothing_given_and_missing_folder(tmp_path):
    with pytest.raises(UserError, match="no street views given"):
        load_views(None, None)
    with pytest.raises(UserError, match="images folder not found"):
        load_views(None, tmp_path / "absent")
