"""Street-view ingestion: validated rows from a metadata table and images, or from EXIF GPS tags."""

from .load import ALIASES, IMAGE_EXTENSIONS, ROW_COLUMNS, ViewsResult, load_views, read_exif_position

__all__ = ["ALIASES", "IMAGE_EXTENSIONS", "ROW_COLUMNS", "ViewsResult", "load_views", "read_exif_position"]
