"""Simulate card transactions with known fraud (handbook §1) into date-partitioned Parquet.

    spark-submit jobs/generate.py --output DIR [--overwrite] [--customers N --terminals N --days N
                                  --start-date D --seed S]
    fraud generate --output DIR ...

Writes DIR/transactions/tx_date=YYYY-MM-DD/, DIR/customer_profiles/, DIR/terminal_profiles/, the raw
contract's validation result in DIR/_validation/ (and its Data Docs pages in DIR/_data_docs/) and the mark
DIR/_simulated.json. The same seed gives the same rows on any cluster. The whole raw table is replaced, so a DIR
whose transactions table holds anything is refused without --overwrite: simulated rows must never replace a bank's
landing zone.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import uuid

from pyspark.sql import Column, DataFrame, Observation, SparkSession, functions as F

from conf import Config, ConfigError
from expectations.contracts import PARTITION_COLUMN, RAW_TRANSACTIONS
from expectations.data_docs import Validated
from expectations.suites import build_suite, validate
from jobs.common import base_parser, build_session, configure_logging, iso_date, parse_config, step
from jobs.files import has_data, read_text, replace_table, require_locations, table_path, write_text
from jobs.validation import publish_data_docs
from simulator.profiles import customer_profiles, terminal_profiles
from simulator.transactions import daily_transaction_counts, generate_transactions, with_transaction_ids

OVERRIDABLE = {"customers": "simulator.customers", "terminals": "simulator.terminals", "days": "simulator.days",
               "start_date": "simulator.start_date", "seed": "simulator.seed"}


SIMULATED_MARK = "_simulated.json"  # beside the tables: what wrote them (`fraud pipeline` re-runs over its own)


class GeneratedDataError(RuntimeError):
    """The simulator's own output broke the raw contract: a defect, never a data problem."""


class RawDataExistsError(ConfigError):
    """The raw table the simulator would replace already holds rows, and --overwrite was not given."""


def is_simulated(spark: SparkSession, output: str) -> bool:
    """True when the tables in `output` were written by this job (its mark is there)."""
    return read_text(spark, table_path(output, SIMULATED_MARK)) is not None


def simulate(spark: SparkSession, config: Config) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(customer profiles with available terminals, terminal profiles, transactions with ids and tx_date)."""
    sim = config.simulator
    transactions = with_transaction_ids(generate_transactions(spark, sim), daily_transaction_counts(spark, sim),
                                        sim.start_date, config.spark.shuffle_partitions)
    return customer_profiles(spark, sim), terminal_profiles(spark, sim), transactions


def summary_aggregates() -> dict[str, Column]:
    """The handbook's table of statistics, name -> aggregate over transactions, in the table's order."""
    return {
        "transactions": F.count(F.lit(1)),
        "frauds": F.sum("tx_fraud"),
        **{f"scenario_{s}": F.sum((F.col("tx_fraud_scenario") == s).cast("long")) for s in (1, 2, 3)},
        "amount_mean": F.mean("tx_amount"),
        "amount_sd": F.stddev("tx_amount"),
        "amount_median": F.percentile_approx("tx_amount", 0.5, 10_000),
        "amount_max": F.max("tx_amount"),
        # exact distinct counts as sets (at most one entry per card or terminal), not count_distinct, which
        # expands every row once per distinct column
        "customers_with_tx": F.size(F.collect_set("customer_id")),
        "terminals_used": F.size(F.collect_set("terminal_id")),
    }


def summary_columns() -> list[Column]:
    return [column.alias(name) for name, column in summary_aggregates().items()]


def with_fraud_rate(figures: dict) -> dict:
    """The figures in the table's order (an observation returns them unordered), with the fraud rate."""
    ordered = {name: figures[name] for name in summary_aggregates()}
    return {**ordered, "fraud_rate": ordered["frauds"] / ordered["transactions"] if ordered["transactions"] else 0.0}


def summarize(transactions: DataFrame) -> dict:
    """The handbook's table of statistics, as one aggregate row (one Spark job)."""
    return with_fraud_rate(transactions.agg(*summary_columns()).first().asDict())


def run(spark: SparkSession, config: Config, output: str, overwrite: bool = False) -> dict:
    require_locations(spark, output)
    transactions_table = table_path(output, "transactions")
    if not overwrite and has_data(spark, transactions_table):
        raise RawDataExistsError(f"{transactions_table} already holds transactions: the simulator would replace the "
                                 "whole table; pass --overwrite only if it holds simulated data")
    with step("simulate, write and summarize") as figures:
        customers, terminals, transactions = simulate(spark, config)
        # the statistics are aggregated by the write's own tasks (an observation), not by a second pass
        observed = Observation("simulated_transactions")
        replace_table(transactions.select(*RAW_TRANSACTIONS.columns, PARTITION_COLUMN)
                      .observe(observed, *summary_columns()), transactions_table)
        summary = with_fraud_rate(observed.get)
        customers.write.mode("overwrite").parquet(table_path(output, "customer_profiles"))
        terminals.write.mode("overwrite").parquet(table_path(output, "terminal_profiles"))
        write_text(spark, table_path(output, SIMULATED_MARK), json.dumps(dataclasses.asdict(config.simulator),
                                                                         default=str))
        figures.update(tables=3, transactions=summary["transactions"], frauds=summary["frauds"])
    if config.validation.enabled:
        # what is checked is what landed on storage, read back column by column
        with step("validate raw_transactions") as figures:
            report = validate(spark.read.parquet(transactions_table), RAW_TRANSACTIONS)
            write_text(spark, table_path(output, f"_validation/{RAW_TRANSACTIONS.name}.json"), report.to_json())
            figures["success"] = report.success
            if config.validation.data_docs:
                last = config.simulator.start_date + dt.timedelta(days=config.simulator.days - 1)
                summary["data_docs"] = publish_data_docs(spark, output, uuid.uuid4().hex[:12], [Validated(
                    lambda: build_suite(RAW_TRANSACTIONS), report.result, f"{config.simulator.start_date}_{last}",
                    transactions_table)])
            if not report.success:
                raise GeneratedDataError(f"simulated transactions break {RAW_TRANSACTIONS.name}: "
                                         + "; ".join(map(str, report.failures)))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud generate --output data/raw --customers 500 --days 60")
    parser.add_argument("--output", help="folder for the three tables (default: paths.raw of the config)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a transactions table that holds rows (never one of real data)")
    parser.add_argument("--customers", type=int, metavar="N")
    parser.add_argument("--terminals", type=int, metavar="N")
    parser.add_argument("--days", type=int, metavar="N")
    parser.add_argument("--start-date", type=iso_date, metavar="D")
    parser.add_argument("--seed", type=int, metavar="S")
    args = parser.parse_args(argv)
    overrides = [f"{key}={getattr(args, name)}" for name, key in OVERRIDABLE.items()
                 if getattr(args, name) is not None]
    config = parse_config(args, overrides)
    configure_logging()
    spark = build_session(config, short_job=True, uris=[args.output or config.paths.raw])
    summary = run(spark, config, args.output or config.paths.raw, overwrite=args.overwrite)
    print(format_summary(summary))
    print("SUMMARY " + json.dumps(summary))
    return 0


def format_summary(summary: dict) -> str:
    lines = [f"{'quantity':<22}{'value':>14}"]
    for key, value in summary.items():
        shown = f"{value:,.4f}" if isinstance(value, float) else value if isinstance(value, str) else f"{value:,}"
        lines.append(f"{key:<22}{shown:>14}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
