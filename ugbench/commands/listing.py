"""`ugbench list-tasks` and `ugbench list-models`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("list-tasks")
    def list_tasks(
        family: str = typer.Option(None, "--family", help="Only this family (geolocation, retrieval, ...)."),
        as_json: bool = typer.Option(False, "--json", help="Print the task metadata as JSON."),
    ) -> None:
        """List UGBench tasks with their family, protocol, main score and the UGData folder they read."""
        import json

        from rich.console import Console
        from rich.table import Table

        from ugbench.tasks.registry import TASKS, entries

        metas = [m for m in entries() if family is None or m.family == family]
        if as_json:
            print(json.dumps([m.model_dump() for m in metas], indent=2))
            return
        table = Table(title="UGBench tasks (`<name>_graph`: with graph context; `_global`: whole-corpus ranking)")
        for c in ("task", "family", "protocol", "main score"):
            table.add_column(c, no_wrap=True)
        table.add_column("UGData folder", overflow="fold")
        table.add_column("aliases", overflow="fold")
        for m in metas:
            table.add_row(m.name, m.family, m.protocol, m.main_score, m.data_task, ", ".join(m.aliases))
        console = Console()
        if not console.is_terminal:  # piped / captured: do not squeeze the names into 80 columns
            console = Console(width=160)
        console.print(table)
        for mod, why in sorted(TASKS.broken.items()):  # a task file that fails to import hides no other task
            console.print(f"[yellow]task module '{mod}' failed to import:[/] {why}", highlight=False)

    @app.command("list-models")
    def list_models() -> None:
        """List model adapters with their aliases; any local model folder or `module:attr` also works."""
        from rich.console import Console
        from rich.table import Table

        from ugbench.models.registry import BROKEN, entries

        table = Table(title="UGBench models (`--model NAME`, a folder, a hub id, or module:attr)")
        for c in ("name", "aliases", "loads by path", "description"):
            table.add_column(c)
        for e in entries():
            table.add_row(e.name, ", ".join(e.aliases), "yes" if e.matches else "", e.description)
        console = Console() if Console().is_terminal else Console(width=160)
        console.print(table)
        for mod, why in sorted(BROKEN.items()):
            console.print(f"[yellow]adapter module '{mod}' failed to import:[/] {why}")
