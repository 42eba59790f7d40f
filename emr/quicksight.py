"""QuickSight datasets and the analysis of the fraud dashboard, as request bodies for the QuickSight API
(`create_data_set`, `create_analysis`): daily alerts, the score distribution, the riskiest terminals and amount
against score, over the Athena tables of `emr.athena` (direct query, so the dashboard reads what the jobs
last wrote: an Iceberg table's current snapshot).

A dataset names its table and columns only: no custom SQL, no S3 path, no partition folder or projection, so it
reads the Iceberg output tables as it read Parquet folders (their `tx_date` is a date column like any other).

The account, region, Athena data source and database are arguments, never constants.
"""
from __future__ import annotations

from emr.athena import TABLES, identifier

QUICKSIGHT_TYPES = {"bigint": "INTEGER", "int": "INTEGER", "double": "DECIMAL", "string": "STRING",
                    "timestamp": "DATETIME"}
DATA_SETS = {"scored": "scored_transactions", "alerts": "fraud_alerts"}


def data_set_arn(account_id: str, region: str, data_set_id: str) -> str:
    return f"arn:aws:quicksight:{region}:{account_id}:dataset/{data_set_id}"


def data_set_request(account_id: str, key: str, data_source_arn: str, database: str) -> dict:
    """create_data_set body for one Athena table (array columns are left out: QuickSight has no array type)."""
    table = TABLES[DATA_SETS[key]]
    columns = [{"Name": name, "Type": QUICKSIGHT_TYPES[kind]} for name, kind in table.columns
               if kind in QUICKSIGHT_TYPES] + [{"Name": "tx_date", "Type": "DATETIME"}]
    return {
        "AwsAccountId": account_id, "DataSetId": f"fraud-{key}", "Name": f"Fraud {table.name}",
        "ImportMode": "DIRECT_QUERY",
        "PhysicalTableMap": {key: {"RelationalTable": {
            "DataSourceArn": data_source_arn, "Catalog": "AwsDataCatalog", "Schema": identifier(database),
            "Name": identifier(table.name), "InputColumns": columns}}},
    }


def _column(data_set: str, name: str) -> dict:
    return {"DataSetIdentifier": data_set, "ColumnName": name}


def _title(text: str) -> dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def _measure(field_id: str, data_set: str, column: str, aggregation: str) -> dict:
    return {"NumericalMeasureField": {"FieldId": field_id, "Column": _column(data_set, column),
                                      "AggregationFunction": {"SimpleNumericalAggregation": aggregation}}}


def visuals() -> list[dict]:
    daily_alerts = {"LineChartVisual": {
        "VisualId": "daily-alerts", "Title": _title("Cards queued for investigation per day"),
        "ChartConfiguration": {"FieldWells": {"LineChartAggregatedFieldWells": {
            "Category": [{"DateDimensionField": {"FieldId": "alert-day", "Column": _column("alerts", "tx_date"),
                                                 "DateGranularity": "DAY"}}],
            "Values": [_measure("queued-cards", "alerts", "customer_id", "COUNT"),
                       _measure("known-compromised", "alerts", "known_fraud", "SUM")]}}}}}
    score_distribution = {"HistogramVisual": {
        "VisualId": "score-distribution", "Title": _title("Risk score distribution"),
        "ChartConfiguration": {
            "FieldWells": {"HistogramAggregatedFieldWells": {"Values": [
                {"NumericalMeasureField": {"FieldId": "risk-score", "Column": _column("scored", "risk_score")}}]}},
            "BinOptions": {"SelectedBinType": "BIN_WIDTH", "BinWidth": {"Value": 50}}}}}
    top_terminals = {"BarChartVisual": {
        "VisualId": "top-terminals", "Title": _title("Terminals with the highest mean risk score"),
        "ChartConfiguration": {
            "FieldWells": {"BarChartAggregatedFieldWells": {
                "Category": [{"NumericalDimensionField": {"FieldId": "terminal",
                                                          "Column": _column("scored", "terminal_id")}}],
                "Values": [_measure("terminal-risk", "scored", "risk_score", "AVERAGE")]}},
            "SortConfiguration": {"CategorySort": [{"FieldSort": {"FieldId": "terminal-risk", "Direction": "DESC"}}],
                                  "CategoryItemsLimit": {"ItemsLimit": 20, "OtherCategories": "EXCLUDE"}},
            "Orientation": "HORIZONTAL"}}}
    amount_vs_score = {"ScatterPlotVisual": {
        "VisualId": "amount-vs-score", "Title": _title("Amount against fraud probability"),
        "ChartConfiguration": {"FieldWells": {"ScatterPlotUnaggregatedFieldWells": {
            "XAxis": [{"NumericalDimensionField": {"FieldId": "amount", "Column": _column("scored", "tx_amount")}}],
            "YAxis": [{"NumericalDimensionField": {"FieldId": "probability",
                                                   "Column": _column("scored", "fraud_probability")}}]}}}}}
    return [daily_alerts, score_distribution, top_terminals, amount_vs_score]


def analysis_request(account_id: str, region: str, analysis_id: str = "fraud-overview") -> dict:
    """create_analysis body: one sheet with the four visuals over the two datasets."""
    return {
        "AwsAccountId": account_id, "AnalysisId": analysis_id, "Name": "Fraud overview",
        "Definition": {
            "DataSetIdentifierDeclarations": [
                {"Identifier": key, "DataSetArn": data_set_arn(account_id, region, f"fraud-{key}")}
                for key in DATA_SETS],
            "Sheets": [{"SheetId": "overview", "Name": "Overview", "Visuals": visuals()}],
        },
    }


def requests(account_id: str, region: str, data_source_arn: str, database: str) -> dict:
    """Every request body, keyed by API operation: {'create_data_set': [...], 'create_analysis': [...]}."""
    if not (account_id.isdigit() and len(account_id) == 12):
        raise ValueError(f"{account_id!r} is not a 12-digit AWS account id")
    return {"create_data_set": [data_set_request(account_id, key, data_source_arn, database) for key in DATA_SETS],
            "create_analysis": [analysis_request(account_id, region)]}
