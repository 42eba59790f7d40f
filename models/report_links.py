"""Links from a run's HTML report to the pages written beside it."""
from __future__ import annotations

import html
import posixpath


def data_docs_link(summary: dict) -> str:
    """A paragraph linking to the Great Expectations Data Docs site of the run `summary` (its `data_docs` index
    page), relative to the report (`summary["report"]`) so that it opens from a copy of the folders too; "" for a
    run without the site."""
    index = summary.get("data_docs")
    if not index:
        return ""
    href = posixpath.relpath(index, posixpath.dirname(summary["report"])) if summary.get("report") else index
    return (f'<p><a href="{html.escape(href)}">Great Expectations Data Docs</a>: every suite, and the validation '
            f"results of this run and the earlier ones</p>")
