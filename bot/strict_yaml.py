"""YAML for files that hospitals edit: a word written twice is reported, not silently dropped.

Plain YAML keeps the last of two equal keys, so a second ``บ่:`` or a phrase pasted
twice with another meaning would quietly replace the first. ``load`` reads YAML as
``yaml.safe_load`` does, but every mapping remembers the keys it was given twice.
"""

from __future__ import annotations

from typing import Any

import yaml


class Table(dict):
    """A YAML mapping that remembers the keys it was given twice (``duplicates``)."""

    duplicates: tuple = ()


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings are ``Table``s."""


def _construct_table(loader: _Loader, node: yaml.MappingNode) -> Table:
    loader.flatten_mapping(node)
    table, duplicates = Table(), []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            seen = key in table
        except TypeError:  # a list or a mapping written as a key
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be text", key_node.start_mark) from None
        if seen:
            duplicates.append(key)
        table[key] = loader.construct_object(value_node, deep=True)
    table.duplicates = tuple(duplicates)
    return table


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_table)


def load(text: str) -> Any:
    """``text`` read as YAML (safe: plain data only); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader


def duplicates(mapping: Any) -> tuple:
    """The keys written twice in a mapping ``load`` returned (none for anything else)."""
    return getattr(mapping, "duplicates", ())
