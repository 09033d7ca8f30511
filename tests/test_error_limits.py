"""Error answers stay small and queries unambiguous: a 422 lists at most `MAX_DETAILS`
problems (a 658 KB body of 40,000 unknown keys got a 6 MB answer), and a query parameter
given twice is refused rather than silently taking the first copy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from selfheal.web.common import MAX_DETAILS

GOOD = {"age": 35, "income": 52_000, "credit_score": 690, "employment_years": 6.5}


def test_a_422_lists_the_first_problems_and_counts_the_rest(client: Any) -> None:
    record = {**GOOD, **{f"k{i}": 1 for i in range(40_000)}}
    raw = json.dumps({"instances": [record]}).encode()
    resp = client.post("/predict", data=raw, content_type="application/json")
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "validation_failed"
    details = err["details"]
    assert len(details) == MAX_DETAILS + 1
    assert all(d["problem"] == "unknown_field" for d in details[:MAX_DETAILS])
    assert details[-1] == {
        "problem": "truncated",
        "omitted": 40_000 - MAX_DETAILS,
        "message": f"{40_000 - MAX_DETAILS} more problem(s) not listed",
    }
    assert err["message"].startswith("40000 invalid field(s) in 1 record(s)")
    assert err["message"].endswith(f"details lists the first {MAX_DETAILS} of 40000 problems")
    assert len(resp.get_data()) < len(raw) / 10


def test_a_422_with_few_problems_lists_them_all(client: Any) -> None:
    resp = client.post("/predict", json={"instances": [{**GOOD, "a": 1, "b": 2}]})
    err = resp.get_json()["error"]
    assert [d["field"] for d in err["details"]] == ["a", "b"]
    assert "details lists" not in err["message"]


@pytest.mark.parametrize("query", ["window=1&window=2", "window=5&window=5", "window=&window=3"])
def test_a_repeated_query_parameter_is_400_naming_it(client: Any, query: str) -> None:
    resp = client.get(f"/monitoring/stats?{query}")
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "bad_query"
    assert err["message"].startswith("query parameter 'window' is given 2 times")


def test_a_single_window_still_works(client: Any) -> None:
    assert client.get("/monitoring/stats?window=5").status_code == 200
    assert client.get("/monitoring/stats").status_code == 200
