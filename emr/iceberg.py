"""The data files of an Iceberg output table's current (or an earlier) snapshot, planned without Spark: what the
local DuckDB views (`emr.queries`) read, as Athena reads the same tables through their metadata on AWS.

Why not glob the table's folder: an Iceberg overwrite leaves the replaced files in place (older snapshots still
read them: time travel), so `<location>/data/tx_date=*/` holds old rows beside new ones. Why not DuckDB's own
iceberg extension: DuckDB downloads it at run time, and nothing here may depend on a download.

The catalog is the config's (`catalog.kind`):
- `jdbc`: the embedded catalog's SQLite file, opened by pyiceberg's SqlCatalog (it reads the `iceberg_tables` rows
  that Iceberg's Java JdbcCatalog writes, schema V1 with its `iceberg_type` column, as they are; it is told not to
  create or migrate anything). Scan planning reads the table's metadata, manifest lists and manifests only.
- `glue`: the tables live in the Glue Data Catalog on S3, which Athena reads; refused here.
- none: no Iceberg table (Parquet folders), nothing to plan.
Tables on S3 are refused as well: DuckDB would need its httpfs extension, another run-time download.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from conf import CatalogConf
from conf.storage import is_s3

# local metadata files are read through fsspec (a pyiceberg dependency): pyiceberg's pyarrow IO wants a newer
# pyarrow than the one pinned for pyspark
FILE_IO = {"py-io-impl": "pyiceberg.io.fsspec.FsspecFileIO"}


class IcebergReadError(RuntimeError):
    """An Iceberg table that cannot be read locally: its catalog, its store or its files; names the table."""


def catalog_path(catalog: CatalogConf) -> Path:
    """The SQLite file of a `jdbc` catalog (`catalog.uri` without its `jdbc:sqlite:` prefix, made absolute as
    `conf.storage.catalog_settings` makes it)."""
    path = catalog.uri.removeprefix("jdbc:sqlite:")
    if path == catalog.uri:
        raise IcebergReadError(f"catalog.uri must be jdbc:sqlite:PATH, got {catalog.uri!r}")
    return Path(path).resolve()


def open_catalog(catalog: CatalogConf):
    """pyiceberg's SqlCatalog over the config's catalog file (which must exist: it is never created here)."""
    if catalog.kind == "glue":
        raise IcebergReadError("the Glue catalog's Iceberg tables are on S3 and read by Athena: run the query there "
                               "(`fraud definitions` writes its SQL), or locally with a config whose catalog.kind "
                               "is jdbc or null")
    from pyiceberg.catalog.sql import SqlCatalog

    path = catalog_path(catalog)
    if not path.is_file():
        raise IcebergReadError(f"no Iceberg catalog at {path} (catalog.uri): no job has written a table with it yet")
    return SqlCatalog(catalog.name, uri=f"sqlite:///{path}", warehouse=str(catalog.warehouse),
                      init_catalog_tables="false", **FILE_IO)


def load(sql_catalog, catalog: CatalogConf, name: str):
    """Table `<namespace>.<name>` of the catalog, or None when the catalog has no such table."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return sql_catalog.load_table((catalog.namespace, name))
    except NoSuchTableError:
        return None


def snapshot_id_as_of(table, as_of: dt.datetime | None) -> int | None:
    """The id of the table's snapshot current at `as_of` (the current one for None); None when the table had no
    snapshot then."""
    if as_of is None:
        return table.metadata.current_snapshot_id
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.timezone.utc)  # the jobs run in UTC
    snapshot = table.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))
    return snapshot.snapshot_id if snapshot else None


def local_path(path: str, table: str) -> str:
    """A data file's path as DuckDB reads it: `file:` URIs made plain paths; any other scheme refused."""
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    if "://" in path:
        raise IcebergReadError(f"{table}: data file {path} is not on the local file system (DuckDB reads local "
                               "files only: query the table in Athena)")
    return path


def _plain(location: str) -> str:
    return str(Path(local_path(location, location)).resolve()) if not is_s3(location) else location.rstrip("/")


def data_files(table, name: str, snapshot_id: int | None = None) -> list[str]:
    """The local paths of the data files of snapshot `snapshot_id` (the current one for None) of pyiceberg
    table `table`; [] for a table without data. Refuses a plan with delete files: the jobs' copy-on-write
    overwrites write none, and reading data files alone would show deleted rows."""
    if snapshot_id is None and table.metadata.current_snapshot_id is None:
        return []
    paths = []
    for task in table.scan(snapshot_id=snapshot_id).plan_files():
        if task.delete_files:
            raise IcebergReadError(f"{name}: data file {task.file.file_path} has {len(task.delete_files)} delete "
                                   "file(s) (a merge-on-read write): the local view reads data files only; query "
                                   "the table with Spark or Athena")
        paths.append(local_path(task.file.file_path, name))
    return sorted(paths)


def snapshot_files(catalog: CatalogConf, name: str, location: str, as_of: dt.datetime | None = None,
                   sql_catalog=None) -> list[str] | None:
    """The local data files of Iceberg table `name` (at `location`) as of `as_of` (now for None): None when the
    catalog has no such table (its rows may be Parquet folders written without a catalog)."""
    if is_s3(location):
        raise IcebergReadError(f"{name}: {location} is on S3, out of reach of the local engine (DuckDB reads S3 "
                               "only through its httpfs extension, a run-time download): query it in Athena")
    table = load(sql_catalog or open_catalog(catalog), catalog, name)
    if table is None or _plain(table.metadata.location) != _plain(location):
        return None  # as `jobs.tables.input_table`: a name registered at another location is not this table
    snapshot_id = snapshot_id_as_of(table, as_of)
    return data_files(table, name, snapshot_id) if snapshot_id is not None else []
