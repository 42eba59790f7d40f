"""Everything AWS, with boto3 clients passed in: packaging for EMR (`package`), the S3 layout (`layout`), the EMR
requests (`cluster`) and their runner (`runner`), Glue tables (`glue`), IAM documents (`policies`, `iam/`), Athena
and DuckDB tables and queries (`athena`, `queries`), QuickSight bodies (`quicksight`), SNS (`notify`). The command
line is `emr/cli.py` (`fraud emr ...`, `python -m emr ...`)."""
