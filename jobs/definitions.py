"""Write the publishing definitions for AWS: the Athena DDL of every table (from the config's paths, e.g.
`--config emr`), the saved queries, and the QuickSight dataset and analysis request bodies.

    fraud definitions --config emr --database fraud --output build/definitions
        [--account-id 123456789012 --region eu-west-1 --data-source-arn arn:aws:quicksight:...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from emr import quicksight
from emr.athena import TABLES, create_table_ddl, projection_start
from emr.queries import QUERIES
from jobs.common import base_parser, parse_config


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud definitions --config emr --output build/definitions")
    parser.add_argument("--database", default="fraud", help="Athena / Glue database")
    parser.add_argument("--output", required=True, help="folder for athena/*.sql and quicksight.json")
    parser.add_argument("--account-id", help="for the QuickSight request bodies")
    parser.add_argument("--region")
    parser.add_argument("--data-source-arn", help="the QuickSight Athena data source")
    args = parser.parse_args(argv)
    config = parse_config(args)
    folder = Path(args.output)
    (folder / "athena").mkdir(parents=True, exist_ok=True)
    start = projection_start(config.emr.projection_start, None)  # the tables are not listed here
    for table in TABLES.values():
        (folder / "athena" / f"create_{table.name}.sql").write_text(
            create_table_ddl(table, args.database, config.paths, start) + ";\n")
    for query in QUERIES.values():
        (folder / "athena" / f"query_{query.name}.sql").write_text(
            f"-- {query.description}\n-- parameters, in order: {', '.join(query.parameters)}\n{query.sql.strip()};\n")
    written = [f"{folder}/athena/ ({len(TABLES)} tables, {len(QUERIES)} queries)"]
    if args.account_id and args.region and args.data_source_arn:
        bodies = quicksight.requests(args.account_id, args.region, args.data_source_arn, args.database)
        (folder / "quicksight.json").write_text(json.dumps(bodies, indent=2))
        written.append(f"{folder}/quicksight.json")
    print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
