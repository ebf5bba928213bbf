"""config.config_from_tables: the config file's rules applied to tables built elsewhere (the
browser's settings), and the kind of input that used to escape them."""

from __future__ import annotations

import tomllib

import pytest

from queue_server.config import ConfigError, config_from_tables, parse_config

SMALL = """
[center]
name = "Trung tâm"

[[fields]]
id = "ho-tich"
name = "Hộ tịch"

[[counters]]
number = 1
fields = ["ho-tich"]
"""


def test_tables_and_text_give_the_same_config() -> None:
    from_text = parse_config(SMALL)
    from_tables = config_from_tables(tomllib.loads(SMALL))
    assert from_tables.rules == from_text.rules
    assert from_text.tables["fields"][0]["name"] == "Hộ tịch"


def test_a_table_in_a_counters_field_list_is_refused_by_name() -> None:
    """`fields = [{a = 1}]` once raised TypeError (unhashable) instead of naming the key."""
    text = SMALL.replace('fields = ["ho-tich"]', "fields = [{a = 1}]")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "center.toml")
    assert caught.value.key == "counters[0].fields" and caught.value.line == 11
    with pytest.raises(ConfigError, match="must list field ids"):
        config_from_tables(tomllib.loads(text))
