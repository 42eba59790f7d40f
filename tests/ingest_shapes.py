"""Small files in the two public shapes the shipped mappings read (no data set is downloaded): the Sparkov-style
CSV and the ULB credit-card CSV, from random rows or from our simulator's raw rows mapped back into the shape."""
from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

CATEGORIES = ("grocery_pos", "gas_transport", "shopping_net", "misc_pos", "travel", "food_dining", "health_fitness")
SPARKOV_COLUMNS = ("", "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "first", "last", "gender",
                   "street", "city", "state", "zip", "lat", "long", "city_pop", "job", "dob", "trans_num",
                   "unix_time", "merch_lat", "merch_long", "is_fraud")


def sparkov_from_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw transactions (transaction_id, tx_datetime, customer_id, terminal_id, tx_amount, tx_fraud) as Sparkov rows:
    a card number per customer, a merchant and a category per terminal, a home per card, a shop per merchant."""
    card, shop = raw["customer_id"].to_numpy(), raw["terminal_id"].to_numpy()
    times = pd.to_datetime(raw["tx_datetime"]).dt.tz_localize(None)
    n = len(raw)
    return pd.DataFrame({
        "": np.arange(n),
        "trans_date_trans_time": times.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "cc_num": (4_000_000_000_000_000 + card).astype(str),
        "merchant": [f"fraud_Merchant {t}" for t in shop],
        "category": [CATEGORIES[t % len(CATEGORIES)] for t in shop],
        "amt": raw["tx_amount"].round(2).astype(str),
        "first": "Jane", "last": "Doe", "gender": "F", "street": "1 Main St", "city": "Town", "state": "NY",
        "zip": "10001",
        "lat": (40 + (card % 100) / 50).round(4).astype(str), "long": (-74 - (card % 77) / 40).round(4).astype(str),
        "city_pop": (1000 + card % 5000).astype(str), "job": "Engineer",
        "dob": [str(dt.date(1950, 1, 1) + dt.timedelta(days=int(c % 15_000))) for c in card],
        "trans_num": [hashlib.md5(str(t).encode()).hexdigest() for t in raw["transaction_id"]],
        "unix_time": (times.astype("int64") // 10**9).astype(str),
        "merch_lat": (40 + (shop % 90) / 45).round(4).astype(str),
        "merch_long": (-74 - (shop % 70) / 35).round(4).astype(str),
        "is_fraud": raw["tx_fraud"].astype(int).astype(str),
    }, columns=list(SPARKOV_COLUMNS))


def random_raw(rows: int, days: int, seed: int = 0, start: dt.date = dt.date(2020, 6, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, days * 86_400, rows))
    return pd.DataFrame({
        "transaction_id": np.arange(rows),
        "tx_datetime": pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s"),
        "customer_id": rng.integers(0, 40, rows), "terminal_id": rng.integers(0, 60, rows),
        "tx_amount": rng.gamma(2.0, 30.0, rows).round(2), "tx_fraud": (rng.random(rows) < 0.05).astype(int),
    })


def ulb_rows(rows: int, seconds: int, seed: int = 0, frauds: int | None = None) -> pd.DataFrame:
    """ULB-shaped rows: Time (seconds from the first row, as floats), V1..V28, Amount, Class (quoted like the set);
    5 % frauds, or exactly `frauds` of them at random rows (the real set: 492 of 284,807)."""
    rng = np.random.default_rng(seed)
    if frauds is None:
        fraud = rng.random(rows) < 0.05
    else:
        fraud = np.zeros(rows, dtype=bool)
        fraud[rng.choice(rows, size=frauds, replace=False)] = True
    frame = {"Time": np.sort(rng.integers(0, seconds, rows)).astype(float)}
    for i in range(1, 29):
        frame[f"V{i}"] = rng.normal(0, 1, rows) + (fraud * (2.0 if i <= 3 else 0.0))
    frame["Amount"] = rng.gamma(2.0, 40.0, rows).round(2)
    frame["Class"] = fraud.astype(int).astype(str)
    return pd.DataFrame(frame)


def main(argv: list[str] | None = None) -> None:
    """python -m tests.ingest_shapes sparkov RAW_TRANSACTIONS_TABLE OUT.csv | ulb ROWS DAYS OUT.csv [FRAUDS]"""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["sparkov"]:
        raw = pd.read_parquet(args[1], columns=["transaction_id", "tx_datetime", "customer_id", "terminal_id",
                                                "tx_amount", "tx_fraud"]).sort_values("transaction_id")
        sparkov_from_raw(raw).to_csv(args[2], index=False)
    elif args[:1] == ["ulb"]:
        frauds = int(args[4]) if len(args) > 4 else None
        ulb_rows(int(args[1]), int(args[2]) * 86_400, frauds=frauds).to_csv(args[3], index=False)
    else:
        raise SystemExit(main.__doc__)


if __name__ == "__main__":
    main()
