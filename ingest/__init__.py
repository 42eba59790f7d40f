"""Ingestion of transactions in other shapes: a declarative mapping (`ingest.mapping`) and its pure transform
(`ingest.transform`); `jobs/ingest_source.py` reads, validates and writes."""
