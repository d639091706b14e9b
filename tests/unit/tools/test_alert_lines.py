"""The demo's line per alert: stage changes with their delay, SLA events with their times."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from streams.tools.alert_lines import alert_line, clock_time


def change(before: str, after: str) -> dict[str, object]:
    return {
        "type": "lead.stage_changed",
        "timestamp": "2026-03-02T10:00:00+00:00",
        "data": {"lead_id": "lead-0042", "from_stage": before, "to_stage": after},
    }


def sla(kind: str) -> dict[str, object]:
    return {
        "type": f"lead.sla_{kind}",
        "timestamp": "2026-03-02T12:00:21+00:00",
        "data": {
            "lead_id": "lead-0042",
            "stage": "sql",
            "stage_since": "2026-03-02T12:00:01.250+00:00",
            "due_at": "2026-03-02T12:00:21.250+00:00",
        },
    }


def test_a_stage_change_says_how_long_after_its_event_it_came() -> None:
    line = alert_line(change("lead", "sql"), verified=True, after_s=0.31)
    assert line == "alert  lead-0042  lead → sql  (signature ok, 0.3 s after the event)"


def test_a_bad_signature_is_shown_and_an_unknown_delay_left_out() -> None:
    line = alert_line(change("sql", "sqo"), verified=False)
    assert line == "alert  lead-0042  sql → sqo  (signature INVALID)"


def test_sla_events_name_the_stage_since_when_and_the_due_time() -> None:
    breach = alert_line(sla("breached"), verified=True, after_s=0.64, tz=UTC)
    assert breach == (
        "SLA breached  lead-0042  sql since 12:00:01, due 12:00:21"
        "  (signature ok, 0.6 s after it came due)"
    )
    warning = alert_line(sla("warning"), verified=True, tz=UTC)
    assert warning == "SLA warning   lead-0042  sql since 12:00:01, due 12:00:21  (signature ok)"


def test_times_in_the_given_zone_and_text_that_is_no_time_as_it_is() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert clock_time("2026-03-02T12:00:01+00:00", plus_two) == "14:00:01"
    assert clock_time("soon", UTC) == "soon"
    assert alert_line({"type": "?"}, verified=True).startswith("alert  ?  None → None")
