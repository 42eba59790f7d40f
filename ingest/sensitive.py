"""Card numbers and personal fields of a source shape, as Column helpers: the keyed card id, the masked card
number the quarantine keeps, and the derived values a model may use in place of a personal field (age, distance).

A mapping marks its sensitive source columns (`sensitive:` in the mapping file, `ingest.mapping`):
- `card_number`: read only through `derive: keyed_hash` (the id below); the quarantine keeps the first six and last
  four digits, as PCI DSS allows for display;
- `personal` (names, addresses, dates of birth, home coordinates): read only through a derivation that does not
  identify the person (`keyed_hash`, `age_years`, `distance_km`); the quarantine keeps nothing of it.

The keyed id is HMAC-SHA-256 of the card number's digits under a secret key, cut to 63 bits. An unkeyed hash of a
card number can be reversed by hashing every number of an issuer's range (an issuer prefix and a Luhn digit leave
about 10^9 candidates); without the key that search is impossible. 63 bits: among n cards the chance that any two
share an id is about n^2 / 2^64, 5e-6 for ten million cards and 5e-4 for a hundred million.
"""
from __future__ import annotations

import hashlib
import hmac

import pandas as pd
from pyspark.sql import Column, functions as F, types as T

ID_MASK = 0x7FFFFFFFFFFFFFFF  # a 63-bit id: ids stay non-negative
MIN_KEY_BYTES = 16
SHOWN_PREFIX, SHOWN_SUFFIX = 6, 4  # PCI DSS: at most the first six and last four digits may be shown
SHORTEST_CARD_NUMBER = 12  # below this, too few hidden digits remain: nothing is shown
EARTH_RADIUS_KM = 6_371.0088  # mean Earth radius (IUGG)


def digits(column: Column) -> Column:
    """The digits of a card number written with spaces or dashes; null when there are none."""
    return F.nullif(F.regexp_replace(column.cast("string"), r"[^0-9]", ""), F.lit(""))


def keyed_id(column: Column, key: bytes) -> Column:
    """HMAC-SHA-256 of the text under `key` as a non-negative 63-bit long (its first eight bytes); null for null.
    Vectorised Python, not Spark's own sha2: a key inside a Spark expression would be shown in every query plan
    (Spark UI, event logs); inside the function it only travels with the serialised task."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the card id key has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")

    @F.pandas_udf(T.LongType())
    def hmac_63(texts: pd.Series) -> pd.Series:
        def one(text):
            if text is None or text is pd.NA or text != text:  # null arrives as None (or NaN)
                return None
            digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
            return int.from_bytes(digest[:8], "big") & ID_MASK
        # built as a nullable integer array: a Series of ints and NaN would pass through float64 and lose digits
        return pd.Series(pd.array([one(t) for t in texts], dtype="Int64"), index=texts.index)

    return hmac_63(column.cast("string"))


def masked_card_number(column: Column) -> Column:
    """First six and last four digits with a star for each digit between; only stars for a short number."""
    number = digits(column)
    between = rf"(?<=\d{{{SHOWN_PREFIX}}})\d(?=\d{{{SHOWN_SUFFIX}}})"  # a digit with six before it and four after
    return F.when(F.length(number) >= SHORTEST_CARD_NUMBER, F.regexp_replace(number, between, "*")).otherwise(
        F.regexp_replace(number, r"\d", "*"))


def age_in_years(birth: Column, on: Column) -> Column:
    """Whole years from the date `birth` to the date `on` (null if either is null), computed on integers rather
    than `months_between` (a fraction of 31-day months): the age rises on the birthday itself; a 29 February
    birthday counts from 1 March in other years."""
    before_birthday = (F.month(on) < F.month(birth)) | (
        (F.month(on) == F.month(birth)) & (F.dayofmonth(on) < F.dayofmonth(birth)))
    return F.year(on) - F.year(birth) - F.when(before_birthday, 1).otherwise(0)


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km between two points in degrees (null if any input is null)."""
    phi1, phi2 = F.radians(lat1), F.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, F.radians(lon2) - F.radians(lon1)
    a = F.pow(F.sin(d_phi / 2), 2) + F.cos(phi1) * F.cos(phi2) * F.pow(F.sin(d_lambda / 2), 2)
    root = F.sqrt(a)
    # rounding can push sqrt(a) just above 1 for antipodal points; `least` would also turn a null into 1
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.when(root > 1.0, F.lit(1.0)).otherwise(root))
