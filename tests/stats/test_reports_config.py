"""`[reports] target_wait_min`: checked like every key (docs/configuration.md), and used."""

from __future__ import annotations

import pytest

from queue_server.config import ConfigError, parse_config
from tests.stats.conftest import CENTER


def with_reports(block: str) -> str:
    return CENTER.replace("[reports]\ntarget_wait_min = 10\n", block)


def test_the_target_is_read() -> None:
    assert parse_config(CENTER).sections["reports"] == {"target_wait_min": 10}
    assert parse_config(with_reports("")).sections["reports"] == {}  # the default (15) applies


@pytest.mark.parametrize("block, words", [
    ("[reports]\ntarget_wait_min = 0\n", "target_wait_min"),
    ("[reports]\ntarget_wait_min = 1000\n", "target_wait_min"),
    ("[reports]\ntarget_wait_min = \"15\"\n", "target_wait_min"),
    ("[reports]\ntarget_wait = 15\n", "unknown key"),
])
def test_a_bad_target_is_refused_with_its_key(block: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(with_reports(block))
    assert words in str(error.value)
