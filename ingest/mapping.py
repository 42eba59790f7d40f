"""The declarative mapping of a source shape (CSV or Parquet columns) onto the raw transactions table: loaded from
YAML (`conf/mappings/*.yaml`) into a frozen `Mapping` and checked there, so a typo or a missing source column
stops the ingestion with a `MappingError` naming the mapping file and the key.

A mapping file:

    format: csv                 # csv or parquet, for an input whose name does not say (a folder); default parquet
    csv_delimiter: ","
    has_card_ids: true          # false: customer_id is no card (e.g. one id per row); card features are skipped
    has_terminal_ids: true      # false: the same for terminal_id and the terminal features
    sensitive:                  # source columns that must never be stored (ingest.sensitive): card_number or personal
      cc_num: card_number
      dob: personal
    columns:                    # our raw columns, each {source, type, format, time_zone, unit, origin, derive, default}
      tx_datetime: {source: trans_date_trans_time, type: timestamp, format: "yyyy-MM-dd HH:mm:ss", time_zone: UTC}
      customer_id: {source: cc_num, derive: keyed_hash}
      ...
    keep:                       # extra source columns kept as our columns (passed through to the features)
      category: {source: category, type: string}
      cardholder_age_years: {source: dob, derive: age_years, format: "yyyy-MM-dd"}
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Sequence

import yaml

TYPES = ("string", "int", "long", "double", "boolean", "date", "timestamp")
# hash: a stable 63-bit id from the source text (e.g. a merchant name); keyed_hash: the same under a secret key
# (HMAC-SHA-256), for a card number or another sensitive value; row_hash: an id from the whole source row, for a
# shape without transaction ids; row_id: the row's transaction id, for a shape without card or terminal ids (no two
# rows share it, so nothing is grouped by a made-up key); age_years: whole years from a date of birth to the
# transaction's date; distance_km: great-circle km between two points, from four sources lat1, lon1, lat2, lon2
DERIVATIONS = ("hash", "keyed_hash", "row_hash", "row_id", "age_years", "distance_km")
DERIVED_TYPES = {"hash": "long", "keyed_hash": "long", "row_hash": "long", "row_id": "long", "age_years": "double",
                 "distance_km": "double"}
SENSITIVE_KINDS = ("card_number", "personal")
# how a sensitive column may be read: derivations whose value does not give the column's value back
ALLOWED_READS = {"card_number": ("keyed_hash",), "personal": ("keyed_hash", "age_years", "distance_km")}
UNITS = ("epoch_seconds", "seconds_since_origin")
ID_COLUMNS = ("transaction_id", "customer_id", "terminal_id")
# our columns a mapping must produce (with their type) and those it may produce
REQUIRED = {"transaction_id": "long", "tx_datetime": "timestamp", "customer_id": "long", "terminal_id": "long",
            "tx_amount": "double", "tx_fraud": "int"}
OPTIONAL = {"tx_fraud_scenario": "int"}
COMPUTED = ("tx_time_seconds", "tx_time_days", "tx_date")  # from tx_datetime and the configured origin
TOP_KEYS = ("format", "csv_delimiter", "has_card_ids", "has_terminal_ids", "sensitive", "columns", "keep",
            "description")
SPEC_KEYS = ("source", "type", "format", "time_zone", "unit", "origin", "derive", "default")


class MappingError(ValueError):
    """A mapping that cannot be applied; the message names the mapping file and the key."""


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    target: str
    source: str | None = None
    type: str = "string"
    format: str | None = None  # a Spark datetime pattern for text dates and timestamps
    time_zone: str = "UTC"  # the zone the source's wall-clock times are in; stored as UTC
    unit: str | None = None  # for numeric timestamps
    origin: dt.datetime | None = None  # for unit seconds_since_origin (UTC)
    derive: str | None = None
    default: Any = None  # when the source column is absent (or no source is named)
    has_default: bool = False
    sources: tuple[str, ...] = ()  # for derive distance_km: lat1, lon1, lat2, lon2

    @property
    def reads(self) -> tuple[str, ...]:
        """The source columns this spec reads."""
        return self.sources or ((self.source,) if self.source else ())


@dataclasses.dataclass(frozen=True)
class Mapping:
    name: str
    path: str
    columns: tuple[ColumnSpec, ...]
    keep: tuple[ColumnSpec, ...] = ()
    format: str | None = None
    csv_delimiter: str = ","
    has_card_ids: bool = True
    has_terminal_ids: bool = True
    sensitive: dict[str, str] = dataclasses.field(default_factory=dict)  # source column -> card_number | personal

    @property
    def needs_key(self) -> bool:
        return any(s.derive == "keyed_hash" for s in (*self.columns, *self.keep))

    @property
    def kept_columns(self) -> list[str]:
        return [spec.target for spec in self.keep]

    def sources(self) -> set[str]:
        return {c for s in (*self.columns, *self.keep) for c in s.reads}


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file (a path, or the name of a shipped one such as `sparkov`)."""
    source = Path(path)
    if not source.exists() and not source.suffix:
        source = Path(__file__).resolve().parent.parent / "conf" / "mappings" / f"{path}.yaml"
    try:
        raw = yaml.safe_load(source.read_text())
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise MappingError(f"mapping file {source} does not exist") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {source} is not valid YAML: {exc}") from exc
    where = str(source)
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: the top level must be a mapping of keys")
    _unknown(raw, TOP_KEYS, where, "")
    columns = _specs(raw.get("columns"), where, "columns")
    keep = _specs(raw.get("keep") or {}, where, "keep")
    targets = {s.target for s in columns}
    for name in REQUIRED:
        if name not in targets:
            raise MappingError(f"{where}: columns.{name} is missing (every mapping must produce {', '.join(REQUIRED)})")
    for spec in columns:
        if spec.target in COMPUTED:
            raise MappingError(f"{where}: columns.{spec.target}: computed by the job from tx_datetime, not mapped")
        if spec.target not in REQUIRED and spec.target not in OPTIONAL:
            raise MappingError(f"{where}: columns.{spec.target} is not a raw column (put extra columns under keep:)")
        wanted = {**REQUIRED, **OPTIONAL}[spec.target]
        if spec.derive is None and spec.type != wanted:
            raise MappingError(f"{where}: columns.{spec.target}.type must be {wanted}, got {spec.type}")
    for spec in keep:
        if spec.target in {*REQUIRED, *OPTIONAL, *COMPUTED}:
            raise MappingError(f"{where}: keep.{spec.target} is one of our raw columns; map it under columns:")
        if spec.derive in ("row_id",):
            raise MappingError(f"{where}: keep.{spec.target}.derive row_id is only for the id columns")
    sensitive = _sensitive(raw.get("sensitive") or {}, where)
    for section, specs in (("columns", columns), ("keep", keep)):
        for spec in specs:
            for column in spec.reads:
                kind = sensitive.get(column)
                if kind and spec.derive not in ALLOWED_READS[kind]:
                    raise MappingError(f"{where}: {section}.{spec.target} reads {column!r}, marked sensitive "
                                       f"({kind}): read it only through derive "
                                       f"{' or '.join(ALLOWED_READS[kind])}, so that its value is never stored")
    fmt = raw.get("format")
    if fmt not in (None, "csv", "parquet"):
        raise MappingError(f"{where}: format must be csv or parquet, got {fmt!r}")
    flags = {k: raw.get(k, True) for k in ("has_card_ids", "has_terminal_ids")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise MappingError(f"{where}: {key} must be true or false, got {value!r}")
    return Mapping(name=source.stem, path=where, columns=columns, keep=keep, format=fmt,
                   csv_delimiter=str(raw.get("csv_delimiter", ",")), sensitive=sensitive, **flags)


def _sensitive(values: Any, where: str) -> dict[str, str]:
    if not isinstance(values, dict):
        raise MappingError(f"{where}: sensitive must be a mapping of source column -> {' or '.join(SENSITIVE_KINDS)}")
    for column, kind in values.items():
        if kind not in SENSITIVE_KINDS:
            raise MappingError(f"{where}: sensitive.{column} must be {' or '.join(SENSITIVE_KINDS)}, got {kind!r}")
    return {str(column): str(kind) for column, kind in values.items()}


def _unknown(values: dict, known: Sequence[str], where: str, prefix: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise MappingError(f"{where}: unknown key {prefix}{unknown[0]} (known: {', '.join(known)})")


def _specs(values: Any, where: str, section: str) -> tuple[ColumnSpec, ...]:
    if not isinstance(values, dict) or (section == "columns" and not values):
        raise MappingError(f"{where}: {section} must be a mapping of column name -> spec")
    return tuple(_spec(str(name), spec if spec is not None else {}, where, f"{section}.{name}")
                 for name, spec in values.items())


def _spec(target: str, values: Any, where: str, key: str) -> ColumnSpec:
    if not isinstance(values, dict):
        raise MappingError(f"{where}: {key} must be a mapping such as {{source: col, type: double}}")
    _unknown(values, SPEC_KEYS, where, f"{key}.")
    kind = values.get("type", {**REQUIRED, **OPTIONAL}.get(target, "string"))
    derive = values.get("derive")
    if derive in DERIVATIONS:
        kind = DERIVED_TYPES[derive]
    elif derive is not None:
        raise MappingError(f"{where}: {key}.derive must be one of {', '.join(DERIVATIONS)}, got {derive!r}")
    if kind not in TYPES:
        raise MappingError(f"{where}: {key}.type must be one of {', '.join(TYPES)}, got {kind!r}")
    unit, origin = values.get("unit"), values.get("origin")
    if unit is not None and (unit not in UNITS or kind != "timestamp"):
        raise MappingError(f"{where}: {key}.unit must be one of {', '.join(UNITS)} on a timestamp, got {unit!r}")
    if unit == "seconds_since_origin":
        try:
            origin = origin if isinstance(origin, dt.datetime) else dt.datetime.fromisoformat(str(origin))
        except ValueError as exc:
            raise MappingError(f"{where}: {key}.origin must be a timestamp YYYY-MM-DDTHH:MM:SS, "
                               f"got {origin!r}") from exc
    elif origin is not None:
        raise MappingError(f"{where}: {key}.origin is only used with unit: seconds_since_origin")
    source, sources = values.get("source"), ()
    has_default = "default" in values
    if derive == "distance_km":
        if not (isinstance(source, list) and len(source) == 4):
            raise MappingError(f"{where}: {key}.derive distance_km needs source: [lat1, lon1, lat2, lon2]")
        source, sources = None, tuple(map(str, source))
    elif isinstance(source, list):
        raise MappingError(f"{where}: {key}.source must be one column name (a list only with derive distance_km)")
    if source is None and not sources and derive not in ("row_hash", "row_id") and not has_default:
        source = target
    if derive in ("hash", "keyed_hash", "age_years") and source is None:
        raise MappingError(f"{where}: {key}.derive {derive} needs a source column")
    return ColumnSpec(target=target, source=None if source is None else str(source), sources=sources, type=kind,
                      format=values.get("format"), time_zone=str(values.get("time_zone", "UTC")), unit=unit,
                      origin=origin, derive=derive, default=values.get("default"), has_default=has_default)


def check_sources(mapping: Mapping, columns: Sequence[str], input_path: str) -> None:
    """Every source column the mapping names must be in the input, unless the spec has a default."""
    present = set(columns)
    for section, specs in (("columns", mapping.columns), ("keep", mapping.keep)):
        for spec in specs:
            for column in spec.reads:
                if column not in present and not spec.has_default:
                    shown = ", ".join(list(columns)[:30])
                    raise MappingError(f"{mapping.path}: {section}.{spec.target}.source: column {column!r} is not "
                                       f"in the input {input_path} (its columns: {shown})")
