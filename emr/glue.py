"""Register the Athena tables in the Glue Data Catalog (the `publish` step and `fraud emr publish`).

The table definitions are `emr.athena.TABLES`, the same ones the Athena DDL and the DuckDB views come from:
external Parquet tables partitioned by `tx_date` with partition projection, so a new date is queryable as soon
as its folder exists, without `MSCK REPAIR` or `batch_create_partition`. Registering is idempotent: an existing
table is updated to the current definition. The Glue client is passed in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from conf import PathsConf
from emr.athena import DEFAULT_PROJECTION_START, TABLES, Table, identifier, projection_properties, s3_location

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def table_input(table: Table, paths: PathsConf, start: dt.date = DEFAULT_PROJECTION_START) -> dict[str, Any]:
    """Glue's TableInput for one table: columns, partition key, Parquet storage, projection parameters (from
    `start`)."""
    location = s3_location(table, paths)
    return {
        "Name": identifier(table.name),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": "parquet", "parquet.compression": "SNAPPY",
                       **projection_properties(location, start)},
        "PartitionKeys": [{"Name": "tx_date", "Type": "date"}],
        "StorageDescriptor": {
            "Columns": [{"Name": identifier(name), "Type": kind} for name, kind in table.columns],
            "Location": location,
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def ensure_database(glue, database: str, description: str = "Card-fraud platform tables") -> bool:
    """Create the database if it is missing; True when it was created."""
    try:
        glue.get_database(Name=identifier(database))
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database, "Description": description})
        return True


def register_tables(glue, database: str, paths: PathsConf, names: tuple[str, ...] | None = None,
                    starts: Mapping[str, dt.date] | None = None) -> dict[str, str]:
    """Create or update each table in `database`, projected from its date in `starts` (default
    DEFAULT_PROJECTION_START); returns {table: "created" | "updated"}."""
    ensure_database(glue, database)
    done = {}
    for name in names or tuple(TABLES):
        body = table_input(TABLES[name], paths, (starts or {}).get(name, DEFAULT_PROJECTION_START))
        try:
            glue.create_table(DatabaseName=database, TableInput=body)
            done[name] = "created"
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=body)
            done[name] = "updated"
    return done
