"""The SQL statements of the package's `sql/` folder, loaded once as package resources."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

PACKAGE = "taskrunner_sqlite"


def read_resource(folder: str, name: str) -> str:
    """The text of `folder/name` in this package."""
    return files(PACKAGE).joinpath(folder, name).read_text(encoding="utf-8")


@cache
def sql(name: str) -> str:
    """The statement of `sql/<name>.sql`, with `{record}` standing for the columns of a
    job's record (`sql/record_columns.sql`, in the order `records.job_record` reads)."""
    text = read_resource("sql", f"{name}.sql")
    if "{record}" in text:
        text = text.replace("{record}", read_resource("sql", "record_columns.sql").strip())
    return text


@cache
def repeated(name: str, rows: int) -> str:
    """`sql(name)`, an `INSERT` of one `VALUES (?, ...)` row, as the one statement that
    inserts `rows` rows: their parameters follow each other, row by row."""
    text = sql(name)
    found = re.search(r"VALUES (\([?, ]+\))", text)
    if found is None:
        raise ValueError(f"sql/{name}.sql has no VALUES row of parameters")
    values = ", ".join([found[1]] * rows)
    return f"{text[: found.start(1)]}{values}{text[found.end(1) :]}"
