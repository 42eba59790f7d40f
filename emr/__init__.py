"""Everything AWS (packaging, EMR submission, S3 layout, Athena/Glue tables): not built yet (issue 6)."""
