"""One module per command group; each defines `register(app: typer.Typer) -> None`.

ugbench.cli discovers every module here, so adding a command touches no other file.
"""
