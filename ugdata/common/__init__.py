"""Small utilities shared by ugdata, uge and ugbench (ugdata is upstream of both, so they may import it)."""
