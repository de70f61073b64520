"""One ``show stat`` / ``show info`` for ``workers = N``: the workers' typed answers merged.

Why: with ``workers = N`` every worker process counts its own traffic, but the operator (and
haproxy_exporter, hatop, Zabbix...) asks the master one ``show stat`` and expects one row per
proxy and server, as HAProxy answers for its threads, which share their counters. So the master
asks each worker ``show stat typed`` and ``show info typed``, parses them back into rows
(:func:`parse_typed_stat`, :func:`parse_typed_info`, the inverses of
:func:`stack.balancer.stats.format_typed` and ``format_info(..., "typed")``), merges the N
answers (:func:`merge_rows`, :func:`merge_info`) and prints the result with the formatters of
:mod:`stack.balancer.stats` in the format asked for.

The merge follows the aggregation HAProxy documents for its typed output (management.txt 9.2):
each field carries its origin, nature and scope, and those say how values from several
processes combine (:func:`rule`):

* keys, products, status, config (but limits), names, outputs, times, and anything of service
  (or system, cluster) scope: the first worker's value;
* counters, gauges, rates, and per-process limits (each worker enforces its own): the sum;
* maxima and durations: the maximum; minima: the minimum;
* averages: the mean of the workers that report it (rounded for integer types);
* ages (``lastsess``, ``lastchg``): the youngest, ``-1`` ("never") only when every worker says
  so;
* strings: the first (nothing to add up).

A field empty in some workers is merged from those that have it; the result keeps the tags and
type of the first worker that has it. So ``pid`` (origin key) and ``status`` (origin status)
are the first worker's, and in ``show info`` ``Pid`` (status) and ``Process_num`` (key) are the
first worker's too, as are ``Nbproc``/``Nbthread`` (config, service scope).

A few columns carry the tag HAProxy 2.6 gives them although that tag's rule would give a wrong
total (:data:`STAT_OVERRIDES`, :data:`INFO_OVERRIDES`): a backend's ``act``/``bck`` (counts of
servers, tagged as plain gauges), a backend's ``rate_max`` (a maximum tagged as a gauge), the
``agg_*`` status gauges, ``downtime`` (a duration tagged as a counter), ``MaxSessRate`` (a
maximum tagged as a rate, by HAProxy too) and ``Start_time_sec`` (the earliest start, to agree with
``Uptime_sec``, the longest uptime), ``SslFrontendSessionReuse_pct`` (a percentage tagged as a
gauge).

Sans IO: text in, rows out, rows in, rows out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stack.balancer.stats import (
    _NATURE,
    _ORIGIN,
    _SCOPE,
    FIELD_NAMES,
    TYPE_BE,
    TYPE_FE,
    TYPE_SV,
    Field,
    Row,
)

__all__ = [
    "INFO_OVERRIDES",
    "STAT_OVERRIDES",
    "merge_fields",
    "merge_info",
    "merge_rows",
    "parse_typed_info",
    "parse_typed_stat",
    "rule",
]

# -- parsing -------------------------------------------------------------------------------------

_LETTER_TYPE = {"F": TYPE_FE, "B": TYPE_BE, "S": TYPE_SV}
_INT_TYPES = frozenset({"u32", "u64", "s32", "s64"})
_TYPES = _INT_TYPES | {"flt", "str"}
_POS_IID = FIELD_NAMES.index("iid")
_POS_SID = FIELD_NAMES.index("sid")
_POS_TYPE = FIELD_NAMES.index("type")

# F.<iid>.<sid>.<pos>.<name>.<process>  (the part before the first colon)
_STAT_HEAD = re.compile(r"([A-Z])\.(-?[0-9]+)\.(-?[0-9]+)\.([0-9]+)\.([^.:]+)\.([0-9]+)")
# <pos>.<name>.<process>: names may hold spaces ("Unstoppable Jobs", "Build info")
_INFO_HEAD = re.compile(r"([0-9]+)\.([^:]+)\.([0-9]+)")
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)")


class _Malformed(Exception):
    """A reason, turned into a ValueError naming the line by the caller."""


def _error(what: str, number: int, line: str, reason: str) -> ValueError:
    return ValueError(f"malformed {what} line {number}: {line!r}: {reason}")


def _field(tags: str, kind: str, text: str) -> Field:
    """``<tags>:<type>:<value>`` as a field, or :class:`_Malformed`."""
    if len(tags) != 3 or tags[0] not in _ORIGIN or tags[1] not in _NATURE or tags[2] not in _SCOPE:
        raise _Malformed(f"unknown tags {tags!r}")
    if kind not in _TYPES:
        raise _Malformed(f"unknown type {kind!r}")
    if kind == "str":
        return (tags, kind, text)
    if kind in _INT_TYPES:
        if not _INT.fullmatch(text):
            raise _Malformed(f"{text!r} is not an integer")
        return (tags, kind, int(text))
    if not _FLOAT.fullmatch(text):
        raise _Malformed(f"{text!r} is not a number")
    return (tags, kind, float(text))


def _split(line: str) -> tuple[str, Field]:
    """``<head>:<tags>:<type>:<value>``: the head and the field (the value may hold colons)."""
    parts = line.split(":", 3)
    if len(parts) != 4:
        raise _Malformed("expected <name>:<tags>:<type>:<value>")
    head, tags, kind, text = parts
    return head, _field(tags, kind, text)


def parse_typed_stat(text: str) -> list[Row]:
    """The rows of a ``show stat typed`` answer (without ``desc``), in their order: the inverse
    of :func:`~stack.balancer.stats.format_typed`. Raises :class:`ValueError` naming the
    offending line when the text is not such an answer."""
    rows: list[Row] = []
    row: Row | None = None
    prefix: tuple[str, str, str] = ("", "", "")
    start = (0, "")  # the current object's first line, for errors about the whole object

    def finish() -> None:
        assert row is not None
        number, first = start
        letter, iid, sid = prefix
        kind, iid_field, sid_field = row[_POS_TYPE], row[_POS_IID], row[_POS_SID]
        if kind is None or iid_field is None or sid_field is None:
            raise _error("typed stat", number, first, "object without type, iid or sid")
        if kind[1] not in _INT_TYPES or kind[2] != _LETTER_TYPE[letter]:
            raise _error("typed stat", number, first, f"type {kind[2]!r} is not {letter}")
        if str(iid_field[2]) != iid or str(sid_field[2]) != sid:
            raise _error("typed stat", number, first, "iid or sid differ from its fields")
        rows.append(row)

    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            if row is not None:
                finish()
                row = None
            continue
        try:
            head, field = _split(line)
            match = _STAT_HEAD.fullmatch(head)
            if match is None:
                raise _Malformed("expected <type>.<iid>.<sid>.<pos>.<name>.<process>")
            letter, iid, sid, pos_text, name, _process = match.groups()
            if letter not in _LETTER_TYPE:
                if letter == "L":
                    raise _Malformed("listener objects are not supported")
                raise _Malformed(f"unknown object type {letter!r}")
            pos = int(pos_text)
            if pos >= len(FIELD_NAMES) or FIELD_NAMES[pos] != name:
                raise _Malformed(f"no field {name!r} at position {pos}")
            if row is None:
                row = [None] * len(FIELD_NAMES)
                prefix = (letter, iid, sid)
                start = (number, line)
            elif (letter, iid, sid) != prefix:
                raise _Malformed("object changes without an empty line")
            if row[pos] is not None:
                raise _Malformed(f"field {name!r} repeated")
        except _Malformed as reason:
            raise _error("typed stat", number, line, str(reason)) from None
        row[pos] = field
    if row is not None:  # the last object's empty line missing: the answer ended there
        finish()
    return rows


def parse_typed_info(text: str) -> list[tuple[int, str, Field]]:
    """The fields of a ``show info typed`` answer (without ``desc``), as
    :meth:`~stack.balancer.stats.StatsSource.info` gives them: the inverse of
    ``format_info(fields, "typed")``. Raises :class:`ValueError` naming the offending line."""
    fields: list[tuple[int, str, Field]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        try:
            head, field = _split(line)
            match = _INFO_HEAD.fullmatch(head)
            if match is None:
                raise _Malformed("expected <pos>.<name>.<process>")
        except _Malformed as reason:
            raise _error("typed info", number, line, str(reason)) from None
        fields.append((int(match.group(1)), match.group(2), field))
    return fields


# -- merging -------------------------------------------------------------------------------------

FIRST, SUM, MAX, MIN, MEAN, AGE = "first", "sum", "max", "min", "mean", "age"

# nature -> operation, for metrics of process scope (see rule)
_BY_NATURE = {
    "C": SUM,  # counter
    "G": SUM,  # gauge
    "R": SUM,  # rate
    "L": SUM,  # limit (per process: each worker enforces its own)
    "M": MAX,  # max
    "m": MIN,  # min
    "a": MEAN,  # average
    "A": AGE,  # age: the youngest, "never" (negative) ignored
    "D": MAX,  # duration
}

# Columns whose HAProxy 2.6 tag does not say how they add up.
STAT_OVERRIDES: dict[str, str] = {
    "act": FIRST,  # backend: servers UP (MGP); a count of servers, not of the workers' load
    "bck": FIRST,  # idem for backups
    "rate_max": MAX,  # backend: tagged MGP, a maximum like the MMP rate_max of the others
    "downtime": MAX,  # MCP, but a time spent DOWN: each worker saw the same wall clock
    "agg_server_status": FIRST,  # MGP, but status values
    "agg_server_check_status": FIRST,
    "agg_check_status": FIRST,
}
INFO_OVERRIDES: dict[str, str] = {
    "MaxSessRate": MAX,  # a maximum, tagged MRP (as HAProxy does: FN_RATE, unlike MaxConnRate)
    "Start_time_sec": MIN,  # MDP: the earliest start, as Uptime_sec (MDP) is the longest
    "SslFrontendSessionReuse_pct": MEAN,  # a percentage, tagged as a plain gauge (MGP)
}


def rule(tags: str, kind: str) -> str:
    """How the fields tagged ``tags`` (origin, nature, scope) of type ``kind`` combine over
    processes: ``first``, ``sum``, ``max``, ``min``, ``mean`` or ``age``."""
    if kind == "str" or len(tags) != 3:
        return FIRST
    origin, nature, scope = tags[0], tags[1], tags[2]
    if origin in "KSP":  # key, status, product
        return FIRST
    if nature in "NOT":  # name, output, time
        return FIRST
    if scope != "P":  # service, system, cluster: the same in every process
        return FIRST
    if origin == "C" and nature != "L":  # config, but a per-process limit
        return FIRST
    return _BY_NATURE.get(nature, FIRST)  # metric (or limit) of process scope


def _numbers(values: Sequence[object]) -> list[int | float] | None:
    out: list[int | float] = []
    for item in values:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        out.append(item)
    return out


def merge_fields(fields: Sequence[Field], how: str | None = None) -> Field:
    """The workers' values for one field (at least one) as one: by :func:`rule` of the first
    field's tags and type, or by ``how``; the first's tags and type."""
    first = fields[0]
    tags, kind = first[0], first[1]
    if len(fields) == 1 or kind == "str":
        return first
    operation = how or rule(tags, kind)
    numbers = _numbers([field[2] for field in fields])
    if operation == FIRST or numbers is None:
        return first
    result: int | float
    if operation == SUM:
        result = sum(numbers)
    elif operation == MAX:
        result = max(numbers)
    elif operation == MIN:
        result = min(numbers)
    elif operation == MEAN:
        mean = sum(numbers) / len(numbers)
        result = round(mean) if kind in _INT_TYPES else mean
    elif operation == AGE:
        seen = [n for n in numbers if n >= 0]
        result = min(seen) if seen else numbers[0]
    else:
        raise ValueError(f"unknown merge operation {operation!r}")
    return (tags, kind, result)


def _row_key(row: Row) -> tuple[object, object, object]:
    def at(pos: int) -> object:
        field = row[pos] if pos < len(row) else None
        return None if field is None else field[2]

    return (at(_POS_TYPE), at(_POS_IID), at(_POS_SID))


def _merge_row(rows: Sequence[Row]) -> Row:
    width = max(len(row) for row in rows)
    merged: Row = []
    for pos in range(width):
        fields: list[Field] = []
        for row in rows:
            field = row[pos] if pos < len(row) else None
            if field is not None:
                fields.append(field)
        if not fields:
            merged.append(None)
            continue
        name = FIELD_NAMES[pos] if pos < len(FIELD_NAMES) else ""
        merged.append(merge_fields(fields, STAT_OVERRIDES.get(name)))
    return merged


def merge_rows(answers: Sequence[Sequence[Row]]) -> list[Row]:
    """The workers' ``show stat`` rows as one: one row per object (type, iid, sid), in the
    first answer's order, then the objects only later answers have, in their order."""
    order: list[tuple[object, object, object]] = []
    groups: dict[tuple[object, object, object], list[Row]] = {}
    for answer in answers:
        for row in answer:
            key = _row_key(row)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(row)
    return [_merge_row(groups[key]) for key in order]


def merge_info(
    answers: Sequence[Sequence[tuple[int, str, Field]]],
) -> list[tuple[int, str, Field]]:
    """The workers' ``show info`` fields as one, keyed by (position, name), in the first
    answer's order, then the fields only later answers have."""
    order: list[tuple[int, str]] = []
    groups: dict[tuple[int, str], list[Field]] = {}
    for answer in answers:
        for pos, name, field in answer:
            key = (pos, name)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(field)
    return [
        (pos, name, merge_fields(groups[(pos, name)], INFO_OVERRIDES.get(name)))
        for pos, name in order
    ]
