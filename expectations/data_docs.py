"""Great Expectations Data Docs: the HTML site of the suites and of every run's validation results.

GX's own renderer (`SiteBuilder`, the standard index, expectation and validation pages) builds the pages of one
run into a local folder, from the results the run already has: nothing is validated again. GX lists a site's
validations from its stores, which an ephemeral context holds only for the run; so the site keeps a catalog,
`index.json` (suite names, and per validation its key, success and table), from which the index of every earlier
run is listed again (`expectations.site_index`), while their pages stay as they were written. A job copies the folder to
the site's location (`jobs.validation`), which may be on S3.

The pages hold the expectations (columns, types, bounds, value sets), each result's success and, for a failed
one, its counts and GX's sample of unexpected values; the sample and observed values of the `SENSITIVE_COLUMNS`
are left out.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from expectations.contracts import SENSITIVE_COLUMNS, _gx

SITE_NAME = "fraud"
CATALOG = "index.json"  # beside index.html: what the index lists
STATIC = "static"  # GX's style sheets, scripts and fonts (copied again only when the GX version changes)
# what a result may show of a sensitive column: counts and shares, and the observed value of the expectations
# whose observed value is no row's value (a type name, a share)
COUNT_KEYS = frozenset({"element_count", "missing_count", "missing_percent", "unexpected_count",
                        "unexpected_percent", "unexpected_percent_total", "unexpected_percent_nonmissing"})
OBSERVED_NOT_A_VALUE = frozenset({"expect_column_values_to_be_of_type",
                                  "expect_column_proportion_of_unique_values_to_be_between"})
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")


@dataclass(frozen=True)
class Validated:
    """One suite's validation in a run: the suite (made inside GX's context, as GX requires), GX's result as JSON
    (`ValidationReport.result`), the batch (the dates validated) and the table it was run on."""

    make_suite: Callable[[], object]
    result: dict
    batch: str
    table: str


def without_sensitive_values(result: dict, sensitive: Sequence[str] = SENSITIVE_COLUMNS) -> dict:
    """`result` (GX's suite result as JSON) with only counts and shares kept in the results of expectations on a
    sensitive column."""
    def cleaned(item: dict) -> dict:
        config = item["expectation_config"]
        columns = {config["kwargs"].get(k) for k in COLUMN_ARGUMENTS} | set(config["kwargs"].get("column_list") or ())
        if not columns & set(sensitive):
            return item
        keep = COUNT_KEYS | ({"observed_value"} if config["type"] in OBSERVED_NOT_A_VALUE else set())
        return {**item, "result": {k: v for k, v in (item.get("result") or {}).items() if k in keep}}

    return {**result, "results": [cleaned(r) for r in result["results"]]}


def build_site(folder: str | Path, validations: Sequence[Validated], run_name: str, catalog: dict | None,
               run_time: dt.datetime | None = None) -> dict:
    """Write into local `folder` the pages of `validations` (their suites and results, as run `run_name`), GX's
    static files and the index of these and of `catalog`'s (the site's `index.json`; None for a new site).
    Returns the new catalog."""
    gx = _gx()
    catalog = catalog or {"suites": [], "validations": []}
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    context.add_data_docs_site(SITE_NAME, {
        "class_name": "SiteBuilder", "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)},
        "site_index_builder": {"class_name": "ListedIndexBuilder", "module_name": "expectations.site_index"}})
    entries, pages = _add_run(context, validations, run_name, run_time or dt.datetime.now(dt.timezone.utc))
    suites = sorted({*catalog["suites"], *(e["suite"] for e in entries)})
    for name in sorted(set(catalog["suites"]) - {e["suite"] for e in entries}):
        context.suites.add(gx.ExpectationSuite(name=name))  # listed only: its page is in the site already
    for entry in catalog["validations"]:
        context.validation_results_store.set(_key(entry), _listed_result(entry))
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=pages)
    return {"gx_version": gx.__version__, "suites": suites, "validations": [*catalog["validations"], *entries]}


def _add_run(context, validations: Sequence[Validated], run_name: str, run_time: dt.datetime) -> tuple[list, list]:
    """Put the run's suites and results in `context`'s stores: (their catalog entries, their pages' keys)."""
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    entries, pages, added = [], [], set()
    for item in validations:
        suite = item.make_suite()
        if suite.name not in added:
            context.suites.add(suite)
            added.add(suite.name)
            pages.append(ExpectationSuiteIdentifier(name=suite.name))
        result = without_sensitive_values(item.result)
        meta = result.get("meta") or {}
        batch = {**meta.get("active_batch_definition", {}), "data_asset_name": item.table}
        entry = {"suite": suite.name, "run_name": run_name, "run_time": run_time.isoformat(), "batch": item.batch,
                 "success": bool(result["success"]), "table": item.table}
        context.validation_results_store.set(_key(entry), expectationSuiteValidationResultSchema.load(
            {**result, "suite_name": suite.name, "meta": {**meta, "active_batch_definition": batch}}))
        entries.append(entry)
        pages.append(_key(entry))
    return entries, pages


def _key(entry: dict):
    """The GX key of a catalog entry's validation (its page: validations/<suite>/<run>/<time>/<batch>.html)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                            ValidationResultIdentifier)

    run = RunIdentifier(run_name=entry["run_name"], run_time=dt.datetime.fromisoformat(entry["run_time"]))
    return ValidationResultIdentifier(ExpectationSuiteIdentifier(name=entry["suite"]), run, entry["batch"])


def _listed_result(entry: dict):
    """An earlier run's result as the index needs it (success and table): its page is in the site already."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    return ExpectationSuiteValidationResult(success=entry["success"], results=[], suite_name=entry["suite"],
                                            meta={"active_batch_definition": {"data_asset_name": entry["table"]}})


def read_catalog(text: str | None) -> dict | None:
    """The site's catalog from the text of its `index.json` (None: no site yet)."""
    return json.loads(text) if text else None
