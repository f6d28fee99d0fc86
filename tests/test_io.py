"""Strict JSON for everything ganforge prints or writes."""

import json
import math

import numpy as np

from ganforge.io import append_jsonl, read_jsonl, to_json


def test_non_finite_floats_become_null_at_any_depth(tmp_path):
    record = {"kl_modes": math.nan, "nested": {"x": [math.inf, -math.inf, 1.5, (2.0, math.nan)]}, "n": 3, "s": "NaN"}
    text = to_json(record)
    assert text == '{"kl_modes": null, "nested": {"x": [null, null, 1.5, [2.0, null]]}, "n": 3, "s": "NaN"}'
    append_jsonl(tmp_path / "m.jsonl", [record, {"fid": float(np.float64("nan"))}])
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert [json.loads(line, parse_constant=lambda c: 1 / 0) for line in lines] == read_jsonl(tmp_path / "m.jsonl")
    assert read_jsonl(tmp_path / "m.jsonl")[1] == {"fid": None}
