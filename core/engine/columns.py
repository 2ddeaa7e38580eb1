"""A group's per-partition health rows kept as columns, for the engine's answer.

A big cluster's view holds one row of 18 plain values per group partition. Kept as a tuple
per row, every row costs the pickle that crosses from the engine to the UI its own framing
and every value its own opcode, and the UI process one object per row to build while it
unpickles. As columns, the numbers are machine arrays kept as bytes (one block each, in the
narrowest integer type that holds the group's values, copied whole when unpickled, not
tracked by the garbage collector) and the texts are tuples in which equal
strings are one object (pickled once, then referenced). Rows are made again only when asked
for (`rows`), for the few groups a screen shows partition by partition.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

#: the row's fields, in the order of `PartitionHealth` (core/engine/monitor.py)
FIELDS = ("topic", "partition", "committed", "log_start", "log_end", "offset_lag",
          "data_loss", "member", "client_id", "host", "status_value", "reason",
          "verdict_committed", "verdict_lag", "time_lag_s", "consume_rate", "produce_rate",
          "time_lag_lower_bound")
_INTS = ("partition", "committed", "log_start", "log_end", "offset_lag", "verdict_committed",
         "verdict_lag")
_FLOATS = ("time_lag_s", "consume_rate", "produce_rate")
_FLAGS = ("data_loss", "time_lag_lower_bound")  # bits of `flags`, in this order
_TEXTS = ("topic", "member", "client_id", "host", "status_value", "reason")
#: the narrowest machine integer that holds a group's numbers; its lowest value means None
_INT_TYPES = (("b", 8), ("h", 16), ("i", 32), ("q", 64))
_WHERE = {name: (kind, i) for kind, names in (("i", _INTS), ("f", _FLOATS), ("t", _TEXTS))
          for i, name in enumerate(names)}


class PartitionColumns:
    """The rows of one group's partitions, column by column (see the module's docstring)."""

    __slots__ = ("count", "flags", "floats", "int_code", "ints", "texts")

    def __init__(self, count: int, int_code: str, ints: bytes, floats: bytes, flags: bytes,
                 texts: tuple[tuple[str | None, ...], ...]) -> None:
        self.count = count
        self.int_code = int_code  # the array typecode of `ints`
        self.ints = ints  # len(_INTS) columns of `count`, one after the other, in the
        # narrowest machine integer that holds them (its lowest value stands for None)
        self.floats = floats  # likewise, float64, NaN for None
        self.flags = flags  # one byte per row: data_loss (bit 0), time_lag_lower_bound (bit 1)
        self.texts = texts  # one tuple per text field

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]]) -> PartitionColumns:
        """Columns of these rows (each a `PartitionHealth` or a tuple in its field order)."""
        index = {name: FIELDS.index(name) for name in FIELDS}
        values = [v for name in _INTS for v in (r[index[name]] for r in rows)]
        known = [v for v in values if v is not None]
        low, high = min(known, default=0), max(known, default=0)
        code = next(c for c, bits in _INT_TYPES if -(2**(bits - 1)) < low and high < 2**(bits - 1))
        none = -(2 ** (array(code).itemsize * 8 - 1))
        ints = array(code, [none if v is None else v for v in values]).tobytes()
        floats = array("d", [math.nan if r[index[name]] is None else r[index[name]]
                             for name in _FLOATS for r in rows]).tobytes()
        flags = bytes(bool(r[index["data_loss"]]) | bool(r[index["time_lag_lower_bound"]]) << 1
                      for r in rows)
        same: dict[str, str] = {}  # equal strings as one object: pickled once
        texts = tuple(tuple(None if r[index[name]] is None
                            else same.setdefault(r[index[name]], r[index[name]])
                            for r in rows) for name in _TEXTS)
        return cls(len(rows), code, ints, floats, flags, texts)

    def column(self, name: str) -> Sequence[Any]:
        """One field of every row, in row order (None where the row has none)."""
        if name in _FLAGS:
            bit = 1 << _FLAGS.index(name)
            return [bool(b & bit) for b in self.flags]
        kind, i = _WHERE[name]
        n = self.count
        if kind == "t":
            return self.texts[i]
        if kind == "i":
            ints = memoryview(self.ints).cast(self.int_code)
            none = -(2 ** (ints.itemsize * 8 - 1))
            return [None if v == none else v for v in ints[i * n:(i + 1) * n]]
        floats = memoryview(self.floats).cast("d")
        return [None if math.isnan(v) else v for v in floats[i * n:(i + 1) * n]]

    def rows(self) -> tuple[tuple[Any, ...], ...]:
        """Every row as a plain tuple in `FIELDS` order."""
        columns = [self.column(name) for name in FIELDS]
        return tuple(zip(*columns, strict=True)) if self.count else ()

    def __len__(self) -> int:
        return self.count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartitionColumns):
            return NotImplemented
        return self.rows() == other.rows()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartitionColumns, (self.count, self.int_code, self.ints, self.floats,
                                   self.flags, self.texts))
