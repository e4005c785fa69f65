"""`ugdata fetch`: real street views from public sources, written as a table `ugdata build` reads.

Every source writes the same output folder (see `ugdata.fetch.output`):

    OUT/images/<file>     verified images (each fully decoded with PIL before it is kept)
    OUT/views.csv         one row per image: the `ViewRecord` fields (id, lat, lon, heading, fov, captured_at,
                          city, source, license, creator, attribution_url, sequence, is_pano, file)
    OUT/rejects.csv       every image not kept (corrupt, cut short, failed download) with its reason
    OUT/fetch.json        source, query, parameters, counts, requests used, complete: true|false
    OUT/journal.jsonl     the resumable state: one line per complete, verified image (sha256)

and then: ugdata build --osm CITY.osm.pbf --views OUT/views.csv --images OUT/images

Sources and their licences (each image's licence travels in its row; honour it when you publish):

- Mapillary (`ugdata fetch mapillary`): Graph API v4 with a free client token
  (https://www.mapillary.com/dashboard/developers). Imagery is CC BY-SA 4.0 (Mapillary's legal terms):
  attribute the creator and Mapillary, link the image (https://www.mapillary.com/app/?pKey=<id>), and share
  derived imagery alike.
- OSV-5M (`ugdata fetch osv5m`): a local copy of the published dataset (CSV metadata plus zip shards);
  CC BY-SA 4.0 (its images come from Mapillary).
- KartaView: not a source. Its current API needs a user token from an interactive login, and its old anonymous
  API searches photos only around a point, not in an area (docs/ugdata.md, "Real street views").
"""

from ugdata.fetch.output import VIEW_COLUMNS, ViewRecord, ViewWriter

__all__ = ["VIEW_COLUMNS", "ViewRecord", "ViewWriter"]
