"""The one rule of the CLI's tables: a column of what another command takes (a job id, an API
key's name, a camera id …) is never cut. It is as wide as its longest value, so on a narrow
terminal (80 columns) the other columns wrap, folding a long word rather than cutting it with an
ellipsis; on one too narrow even for the handle, it folds onto a second line too. (Index
versions, up to 73 characters, leave no room for a table: `skynet index versions` lists them.)"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.table import Column, Table


def handle_column(header: str, values: Iterable[str]) -> Column:
    """A column for `values` that other commands take, shown whole."""
    return Column(header, width=max([cell_len(header), *map(cell_len, values)]), overflow="fold")


def whole_table(*columns: Column | str) -> Table:
    """A table whose plain (str) columns wrap and fold on a narrow terminal instead of ending
    in an ellipsis; give the handles as `handle_column`s."""
    return Table(*(c if isinstance(c, Column) else Column(c, overflow="fold") for c in columns))
