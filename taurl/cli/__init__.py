"""The ``taurl`` command, one module per command group."""

from __future__ import annotations

import warnings

import typer

from taurl.cli import analysis, audit, data, domains, export, judge, recording, run, sim, train
from taurl.cli import importing as _importing  # noqa: F401 - adds `taurl import tau2` to data.import_app
from taurl.cli.common import UntypedHelpGroup, show_warning

app = typer.Typer(
    help="taurl: record, replay and score τ-bench-style tool-use episodes; train on them with SkyRL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=UntypedHelpGroup,
)
# the order of registration is the order of --help
for group in (run, recording, sim, train, analysis, judge):
    app.add_typer(group.app)
app.add_typer(domains.app, name="domains")
app.add_typer(data.data_app, name="data")
app.add_typer(data.import_app, name="import")
app.add_typer(export.app, name="export")
app.add_typer(audit.app, name="audit")


def main() -> None:
    warnings.showwarning = show_warning
    app()
