"""UGBench task data written by the builder: one module per task (see ugdata.tasks.registry)."""
