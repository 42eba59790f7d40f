"""The line of a run's report that links to its Data Docs site."""
from __future__ import annotations

from models.report_links import data_docs_link


def test_the_link_is_relative_to_the_report_so_a_copy_of_the_folders_keeps_it():
    summary = {"report": "s3://bucket/publish/_reports/run.html",
               "data_docs": "s3://bucket/publish/_data_docs/index.html"}
    assert '<a href="../_data_docs/index.html">' in data_docs_link(summary)


def test_a_run_without_the_site_has_no_link():
    assert data_docs_link({"report": "publish/_reports/run.html"}) == ""
