"""Per-lead queues: a lead's items in order, leads independent, revoked items dropped."""

from __future__ import annotations

from streams.alerts.queues import LeadQueues


def test_a_lead_works_on_its_head_and_moves_on_in_order() -> None:
    queues: LeadQueues[str] = LeadQueues()
    assert queues.add("ann", "ann:1") is True  # a new head: start working on ann
    assert queues.add("ann", "ann:2") is False  # behind ann:1
    assert queues.add("bob", "bob:1") is True  # bob does not wait for ann
    assert queues.head("ann") == "ann:1"
    assert len(queues) == 3
    assert queues.pop("ann") == "ann:2"
    assert queues.pop("ann") is None
    assert queues.head("ann") is None
    assert queues.add("ann", "ann:3") is True  # the lead starts again
    assert sorted(queues.leads()) == ["ann", "bob"]


def test_discard_reports_the_leads_whose_head_went() -> None:
    queues: LeadQueues[tuple[int, str]] = LeadQueues()
    for item in [(0, "ann:1"), (1, "ann:sla"), (0, "ann:2"), (1, "bob:sla"), (0, "cat:1")]:
        queues.add(item[1].split(":")[0], item)
    beheaded = queues.discard(lambda item: item[0] == 0)  # partition 0 revoked
    assert beheaded == {"ann", "cat"}
    assert queues.head("ann") == (1, "ann:sla")  # ann goes on with what it still has
    assert queues.head("cat") is None
    assert queues.head("bob") == (1, "bob:sla")  # untouched, still in its work
    assert len(queues) == 2
    assert queues.discard(lambda item: False) == set()


def test_pop_of_an_unknown_lead() -> None:
    assert LeadQueues[str]().pop("nobody") is None
