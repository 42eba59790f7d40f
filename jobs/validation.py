"""What the jobs do with a validation: the result files in `<root>/_validation/`, the Great Expectations Data Docs
site in `<root>/_data_docs/` (`expectations.data_docs`), and the error naming the first contract that failed.

The site is built in a local scratch folder from the results the validation already returned (no Spark pass) and
copied to the root's store through the session's file system, so it lands on S3 the way the jobs' other files do.
Its index is written last: it never links to a page not yet copied.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession

from expectations.contracts import ContractError, TableContract
from expectations.data_docs import CATALOG, STATIC, Validated, build_site, read_catalog
from expectations.suites import build_suite, validate_together
from jobs.common import step
from jobs.files import copy_from_local, read_text, table_path, write_text

DATA_DOCS = "_data_docs"
INDEX_PAGE = "index.html"


def data_docs_index(root: str) -> str:
    """The index page of the Data Docs site of the tables at `root`."""
    return table_path(table_path(root, DATA_DOCS), INDEX_PAGE)


def validate_output(spark: SparkSession, df: DataFrame, contracts: Sequence[TableContract], root: str, suffix: str,
                    run_id: str, data_docs: bool = True) -> str | None:
    """The suites of `contracts` on a job's output before it is written, in one GX run; a result file each in
    `<root>/_validation/`, the run's pages in the Data Docs site (unless `data_docs` is false: then None is
    returned, else the site's index page), and an error naming the first contract that failed."""
    reports = validate_together(df, contracts)
    for contract, report in zip(contracts, reports):
        write_text(spark, table_path(root, f"_validation/{contract.name}_{suffix}.json"), report.to_json())
    index = None
    if data_docs:
        index = publish_data_docs(spark, root, run_id, [
            Validated(lambda c=contract: build_suite(c), report.result, suffix, root)
            for contract, report in zip(contracts, reports)])
    for contract, report in zip(contracts, reports):
        if not report.success:
            first = report.failures[0]
            raise ContractError(contract.name, root, first.column, first.expectation,
                                "; ".join(str(f) for f in report.failures))
    return index


def publish_data_docs(spark: SparkSession, root: str, run_id: str, validations: Sequence[Validated]) -> str:
    """Add the pages of `validations` (one run's) to the site at
    `<root>/_data_docs/`; returns its index page."""
    site = table_path(root, DATA_DOCS)
    catalog_file = table_path(site, CATALOG)
    with step(f"data docs {site}") as figures, tempfile.TemporaryDirectory(prefix="data-docs-") as folder:
        catalog = read_catalog(read_text(spark, catalog_file))
        updated = build_site(folder, validations, run_id, catalog)
        # GX's static files (4 MB) are copied once per GX version, not on every run
        static_current = bool(catalog) and catalog.get("gx_version") == updated["gx_version"]
        pages = [os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files]
        pages = [p for p in pages
                 if p != INDEX_PAGE and not (static_current and p.startswith(STATIC + os.sep))]
        copy_from_local(spark, folder, site, pages)
        write_text(spark, catalog_file, json.dumps(updated, indent=1))
        copy_from_local(spark, folder, site, [INDEX_PAGE])
        figures.update(validations=len(validations), files=len(pages) + 2)
    return table_path(site, INDEX_PAGE)
