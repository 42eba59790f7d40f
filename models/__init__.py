"""The Spark ML model, training and selection, metrics and registry access: not built yet (issue 4)."""
