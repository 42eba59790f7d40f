"""The scoring run's notification: its summary and the top of the investigators' queue, published to an SNS topic.
The boto3 client is passed in, so the same code talks to AWS or to a local endpoint."""
from __future__ import annotations

import json
from typing import Any

SUBJECT_LIMIT = 100  # SNS subject: at most 100 characters


def message(summary: dict[str, Any], top_alerts: list[dict[str, Any]]) -> tuple[str, str]:
    """(subject, body) of a scoring run's notification."""
    subject = (f"Fraud scoring {summary['first_date']}..{summary['last_date']}: {summary['alerts']} cards queued, "
               f"{summary['rows_quarantined']} rows quarantined")[:SUBJECT_LIMIT]
    lines = [f"Scoring run {summary['run_id']} with {summary['model_name']} v{summary['model_version']} "
             f"({summary['model_uri']})",
             f"rows in {summary['rows_in']:,}, scored {summary['rows_scored']:,}, "
             f"quarantined {summary['rows_quarantined']:,}; outcomes {json.dumps(summary['outcomes'], sort_keys=True)}",
             f"report: {summary.get('report', 'n/a')}", "", "Top alerts (last day):"]
    for alert in top_alerts:
        reasons = ", ".join(r for r in (alert.get("reason_1"), alert.get("reason_2"), alert.get("reason_3")) if r)
        lines.append(f"  #{alert['alert_rank']} card {alert['customer_id']}: risk {alert['max_risk_score']}, "
                     f"{alert['transactions']} tx, {alert['total_amount']:.2f} total; {reasons}")
    return subject, "\n".join(lines)


def publish(sns, topic_arn: str, summary: dict[str, Any], top_alerts: list[dict[str, Any]]) -> str:
    """Publish the notification with an SNS client; returns the message id."""
    return publish_text(sns, topic_arn, *message(summary, top_alerts))


def publish_text(sns, topic_arn: str, subject: str, body: str) -> str:
    """Publish one message (subject cut to SNS's limit); returns the message id."""
    return sns.publish(TopicArn=topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=body)["MessageId"]
