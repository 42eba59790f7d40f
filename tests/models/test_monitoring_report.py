"""The monitoring report: a day whose labels are not mature says when they will be."""
from __future__ import annotations

import base64
import datetime as dt
import re
import struct

from conf import MonitoringConf
from models import monitoring, monitoring_report

FIRST = dt.date(2018, 9, 28)
SUMMARY = {"run_id": "abc123", "first_date": str(FIRST), "last_date": "2018-09-30"}


def figure_heights(page: str) -> list[int]:
    """Pixel heights of the page's PNG figures (from each PNG's header)."""
    return [struct.unpack(">I", base64.b64decode(data[:32])[20:24])[0]
            for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]


def day(offset: int, mature: bool) -> dict:
    return {"tx_date": FIRST + dt.timedelta(days=offset), "status": "ok", "rows": 1000, "volume_ratio": 1.0,
            "max_feature_psi": 0.02, "max_psi_feature": "tx_amount", "score_psi": 0.01, "max_feature_ks": 0.03,
            "score_ks": 0.02, "labels_mature": mature, "auc_roc": 0.9 if mature else None,
            "average_precision": 0.6 if mature else None, "card_precision_at_k": 0.3 if mature else None,
            "breaches": []}


def test_labels_mature_the_delay_after_the_day():
    assert monitoring.labels_mature_on(dt.date(2018, 9, 30), 7) == dt.date(2018, 10, 7)


def test_a_day_whose_labels_are_not_mature_says_when_they_will_be():
    page = monitoring_report.build([day(0, True), day(1, False)], MonitoringConf(), SUMMARY, delay_days=7)
    assert "<li>2018-09-29: labels mature on 2018-10-06</li>" in page


def test_the_days_table_says_when_the_quality_of_a_day_is_measured():
    page = monitoring_report.build([day(0, False)], MonitoringConf(), SUMMARY, delay_days=7)
    assert page.count("<td>labels mature on 2018-10-05</td>") == 2  # average precision and CP@k


def test_a_mature_day_is_not_listed_as_waiting():
    page = monitoring_report.build([day(0, True), day(1, False)], MonitoringConf(), SUMMARY, delay_days=7)
    assert "2018-09-28: labels mature" not in page and "<td>0.600</td>" in page


def test_no_mature_day_draws_volume_alone_instead_of_an_empty_quality_panel():
    waiting = monitoring_report.build([day(0, False), day(1, False)], MonitoringConf(), SUMMARY, delay_days=7)
    measured = monitoring_report.build([day(0, True), day(1, True)], MonitoringConf(), SUMMARY, delay_days=7)
    assert figure_heights(waiting)[1] < figure_heights(measured)[1]  # one panel (volume), not two
    assert "labels mature on 2018-10-06" in waiting and "labels mature" not in measured


def test_the_run_summary_is_a_table_not_a_json_dump():
    page = monitoring_report.build([day(0, True)], MonitoringConf(), SUMMARY, delay_days=7)
    assert '<table class="summary">' in page and "<pre>" not in page and '"run_id"' not in page
