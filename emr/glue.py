"""Register the Athena tables in the Glue Data Catalog (the `publish` step and `fraud emr publish`).

The table definitions are `emr.athena.TABLES`, the same ones the Athena DDL and the DuckDB views come from:
- `raw_transactions`: an external Parquet table partitioned by `tx_date` with partition projection, so a new date
  is queryable as soon as its folder exists, without `MSCK REPAIR` or `batch_create_partition`.
- the Iceberg output tables: when the jobs' catalog is Glue itself (`catalog.kind: glue`, EMR), Spark's
  GlueCatalog created them (table_type ICEBERG) and commits to them: they are left alone. When the catalog is
  another one (the embedded JDBC catalog with tables on S3: conf/s3-local.yaml, the tests), each is registered as
  Athena reads an Iceberg table registered from outside: parameters `table_type=ICEBERG` and `metadata_location`
  (the table's current metadata file, given by the caller, who reads it from the catalog), and on an update
  `previous_metadata_location` (the one registered before). Athena then reads the snapshot of that metadata file:
  the tables as of the last publish.
Registering is idempotent: an existing table is updated to the current definition. The Glue client is passed in.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from conf import PathsConf
from conf.storage import is_s3, s3_uri
from emr.athena import DEFAULT_PROJECTION_START, TABLES, Table, identifier, projection_properties, s3_location

PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
# what `register_tables` reports for an Iceberg table it was given no metadata file for
IN_ICEBERG_CATALOG = "left to its Iceberg catalog"


def table_input(table: Table, paths: PathsConf, start: dt.date = DEFAULT_PROJECTION_START) -> dict[str, Any]:
    """Glue's TableInput for a Parquet-folder table: columns, partition key, Parquet storage, projection
    parameters (from `start`)."""
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


def iceberg_table_input(table: Table, paths: PathsConf, metadata_location: str,
                        previous_metadata_location: str | None = None) -> dict[str, Any]:
    """Glue's TableInput for an Iceberg table registered from outside its catalog: the table's current metadata
    file (s3:// spelling) and the one registered before it. No partition keys: Iceberg's metadata holds the
    partitioning, as in the tables Iceberg's own GlueCatalog writes."""
    if not is_s3(metadata_location):
        raise ValueError(f"{table.name}: metadata file {metadata_location} is not on S3, which Athena reads")
    parameters = {"table_type": "ICEBERG", "metadata_location": s3_uri(metadata_location)}
    if previous_metadata_location and previous_metadata_location != parameters["metadata_location"]:
        parameters["previous_metadata_location"] = previous_metadata_location
    return {
        "Name": identifier(table.name),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "StorageDescriptor": {
            "Columns": [{"Name": identifier(name), "Type": kind}
                        for name, kind in (*table.columns, ("tx_date", "date"))],
            "Location": s3_location(table, paths),
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


def _registered_metadata(glue, database: str, name: str) -> str | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"].get("Parameters", {}).get(
            "metadata_location")
    except glue.exceptions.EntityNotFoundException:
        return None


def register_tables(glue, database: str, paths: PathsConf, names: tuple[str, ...] | None = None,
                    starts: Mapping[str, dt.date] | None = None,
                    metadata_locations: Mapping[str, str] | None = None) -> dict[str, str]:
    """Create or update each table in `database`: the raw table projected from its date in `starts` (default
    DEFAULT_PROJECTION_START); an Iceberg table from its current metadata file in `metadata_locations`, or, when
    that has none for it, left to its catalog (the Glue catalog's own table). Returns {table: "created" |
    "updated" | IN_ICEBERG_CATALOG}."""
    ensure_database(glue, database)
    done = {}
    for name in names or tuple(TABLES):
        table = TABLES[name]
        if table.iceberg and name not in (metadata_locations or {}):
            done[name] = IN_ICEBERG_CATALOG
            continue
        if table.iceberg:
            body = iceberg_table_input(table, paths, metadata_locations[name],
                                       _registered_metadata(glue, database, name))
        else:
            body = table_input(table, paths, (starts or {}).get(name, DEFAULT_PROJECTION_START))
        try:
            glue.create_table(DatabaseName=database, TableInput=body)
            done[name] = "created"
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=database, TableInput=body)
            done[name] = "updated"
    return done
