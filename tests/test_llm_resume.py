"""A reply is stored the moment it arrives: a run killed while reading it does not pay for it again on resume."""

from __future__ import annotations

import pytest
from llm_server import bad_json, llm_server  # noqa: F401
from test_llm import call, make_model, rows

import digest.llm.client as client
from digest.llm.client import ChatModel, llm_cost_report


class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, not even an except Exception."""


def kill_once(monkeypatch, name: str, target=client) -> None:
    """Make `target.name` (a step after the reply arrived) stop the process the first time it runs."""
    real = getattr(target, name)
    calls = []

    def killed(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, killed)


@pytest.mark.parametrize(("step", "target"), [("_attempt", ChatModel), ("judge_reply", client)],
                         ids=["reading the reply", "judging it"])
def test_a_kill_right_after_the_reply_makes_no_second_call(llm_server, store, monkeypatch, step, target):
    kill_once(monkeypatch, step, target)
    with pytest.raises(Killed):
        call(make_model(llm_server, store, price_input=1.0, price_output=1.0))
    assert len(llm_server.chat_requests()) == 1
    [row] = rows(store)
    assert row["status"] == "received" and row["response"]  # written before anything read it

    # The next run (a new model object on the same store) is served the stored reply, over no HTTP.
    resumed = call(make_model(llm_server, store, price_input=1.0, price_output=1.0))
    assert len(llm_server.chat_requests()) == 1
    assert resumed.from_cache and resumed.data["tldr"] and resumed.usage.cost > 0  # the server reported usage
    [row] = rows(store)
    assert row["status"] == "ok" and row["id"] == resumed.call_id
    [cost] = llm_cost_report(store)
    assert (cost["calls"], cost["ok"], cost["failed"]) == (1, 1, 0)


def test_a_stored_reply_that_fails_its_checks_is_asked_again(llm_server, store, monkeypatch):
    kill_once(monkeypatch, "judge_reply")
    llm_server.push(bad_json())
    with pytest.raises(Killed):
        call(make_model(llm_server, store))
    resumed = call(make_model(llm_server, store))
    assert not resumed.from_cache and len(llm_server.chat_requests()) == 2
    first, second = rows(store)
    assert first["status"] == "error" and "JSON" in first["error"] and second["status"] == "ok"


def test_a_reply_is_settled_with_its_usage_when_nothing_stops_the_run(llm_server, store):
    result = call(make_model(llm_server, store, price_input=2.0, price_output=8.0))
    [row] = rows(store)
    assert row["status"] == "ok" and row["error"] is None and row["id"] == result.call_id
    assert result.usage.cost > 0 and row["cost"] == pytest.approx(result.usage.cost)
    assert (row["input_tokens"], row["output_tokens"]) == (result.usage.input_tokens, result.usage.output_tokens)
