"""A wrongly typed field is refused with a fix that points the right way for the type the field wants."""

from __future__ import annotations

import pytest
import yaml

from grader.base.errors import BadInput
from grader.intake.schema import check_fields

SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n{labels}spec:\n  ports:\n  - port: {port}\n"


def _refusal(text: str) -> BadInput:
    with pytest.raises(BadInput) as info:
        check_fields(yaml.safe_load(text), yaml.compose(text), "manifest.yaml", "V1Service")
    return info.value


def test_a_quoted_port_is_told_to_lose_its_quotes() -> None:
    err = _refusal(SERVICE.format(labels="", port='"80"'))
    assert err.message == "'Service.spec.ports[0].port' must be a whole number, not '80'"
    assert err.line == 7
    assert err.fix is not None
    assert "without quotes" in err.fix
    assert "port: 80" in err.fix


def test_a_number_where_text_belongs_is_told_to_gain_quotes() -> None:
    err = _refusal(SERVICE.format(labels="  labels:\n    version: 1.0\n", port="80"))
    assert "must be a string" in err.message
    assert err.fix is not None
    assert "in quotes" in err.fix


def test_a_list_where_pairs_belong_is_told_to_write_pairs() -> None:
    err = _refusal(SERVICE.format(labels="  labels:\n  - app\n", port="80"))
    assert "must be a mapping of names to values" in err.message
    assert err.fix is not None
    assert "key: value" in err.fix
