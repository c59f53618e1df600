"""Writing a normalised sweep config back as TOML (for ``OUT/sweep.toml``)."""
import json
import math
import numbers
import re

__all__ = ["dump_toml"]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if _is_int(value):
        return str(int(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                                if v is not None) + " }"
    raise ValueError(f"cannot write {value!r} as TOML")


def _toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def dump_toml(config):
    """A TOML document for a config of tables of plain values (None values are left out).

    Examples
    --------
    >>> print(dump_toml({"grid": {"zeta": [0.0, 0.3]}, "summary": {"baseline": {"zeta": 0.3}}}))
    [grid]
    zeta = [0.0, 0.3]
    <BLANKLINE>
    [summary]
    baseline = { zeta = 0.3 }
    <BLANKLINE>
    """
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()
                     if v is not None)
        lines.append("")
    return "\n".join(lines)
