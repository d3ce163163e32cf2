"""Weight encodings of the conv family: the form each filter takes in flash, and its bytes.

Pruning and clustering make a model smaller only if the firmware stores the weights that
way. This module turns a filter, seen as rows (one per output channel, each holding the
values the kernel multiplies with one input vector, in the kernel's order; the lowerings
in tinygen/ops/conv.py make the view), into one of four encodings that the kernels in
templates/kernels/tg_conv_compressed.c decode on the fly:

- dense: every int8 value, as TFLite stores it.
- lut: a clustered filter with at most 2^bits distinct values per table (bits 1 to 6). The
  values become indices into tables of int8 centroids: one table for the tensor, or one per
  output channel (full-int8 conversion turns shared float clusters into per-channel int8
  values). Indices are packed 32 // bits to a 32-bit word, lowest bits first, row after row:
  the kernel loads one word and extracts fixed bit fields, unrolled for each width (on
  Cortex-M3 and up, one UBFX per index; 4.5 instructions per value on a Cortex-M4 with the
  loop, against 5.5 for two indices a byte, and the same as unpacked byte indices, measured
  on the compiled loops). Rows are not aligned to words, so short rows (a depthwise
  filter's 9 taps) waste no bits; the kernel reads a row's partial words index by index.
- sparse: a pruned filter. Per row, the number of its entries; per entry, its step from the
  previous entry (one byte; the first counts from column 0) and its int8 value. Zeros cost
  neither flash nor a multiply-accumulate. A gap of more than 255 columns is bridged by
  entries of value 0, which keeps every step in one byte.
- sparse-lut: sparse rows whose values are packed LUT indices, as above.

`encode(rows, mode)` picks one. A forced mode (`lut`, `sparse`, `sparse-lut`) uses that
encoding, in its smallest variant, wherever it can hold the filter, even where it is larger,
so that its kernels can be run and measured on any model; a filter it cannot hold (more than
64 distinct values in a table) stays dense. `auto` takes the encoding with the fewest bytes
among those that save at least MIN_SAVING of the dense bytes and cost at most COST_BUDGET
times the dense kernel's instructions by the cost model below; if none does, the filter
stays dense.

Limits: the encoder never changes a value (outputs stay bit-exact); it neither clusters nor
prunes (training does); the cost model counts instructions of the row loops on a Cortex-M4
and ignores flash wait states and caches; tables hold 2^bits entries even when fewer are
used, so that a row's table is found by a multiplication. `auto` decides per filter: the
code of the compressed kernels and row readers a model then links (0.6 to 1.5 KB on a
Cortex-M4 with --gc-sections) is not weighed against the bytes saved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

MODES = ("auto", "dense", "lut", "sparse", "sparse-lut")
DENSE, LUT, SPARSE, SPARSE_LUT = "dense", "lut", "sparse", "sparse-lut"

MAX_BITS = 6  # beyond 6 bits a table per channel outweighs what the indices save
WORD_BITS = 32
MAX_STEP = np.iinfo(np.uint8).max  # steps are stored in one byte
MAX_ROW_ENTRIES = np.iinfo(np.uint16).max  # entries per row are stored in two bytes

# `auto` keeps an encoding only if it saves at least this share of the dense bytes...
MIN_SAVING = 1 / 8
# ...and its row loops cost at most this many times the dense kernel's instructions.
COST_BUDGET = 1.25
# What the compressed DEPTHWISE_CONV_2D kernel spends per filter tap of each row beyond its
# row reader: it gathers the window channel by channel, and its rows of a few taps mostly
# start and end inside a word. Measured on the keyword-spotting model (3x3 taps, 4-bit
# indices, one table): 216 instructions a row, against 141 from ROW_COSTS.
DEPTHWISE_TAP_OVERHEAD = 8.4

_C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "uint16_t": 2, "uint32_t": 4}


@dataclass(frozen=True)
class RowCost:
    """Cortex-M4 instructions of a kernel's row loop: `per_row` for each row it reads plus
    `per_entry` for each value it multiplies."""

    per_row: float
    per_entry: float


# Instructions measured in QEMU (mps2-an386, Cortex-M4, arm-none-eabi-gcc 12 -O2) and
# fitted by `benchmarks/weights.py --measure-costs` on the FULLY_CONNECTED layers of the
# MLPerf Tiny anomaly-detection model (rows of 8, 128 and 640 values), clustered and pruned.
# per_row includes the requantization of the row's output. Sparse LUT rows were measured
# with 4- and 6-bit indices; narrower (wider) indices decode the same way and take the
# 4-bit (6-bit) figures.
ROW_COSTS = {
    (DENSE, 0): RowCost(per_row=81.8, per_entry=4.25),
    (LUT, 1): RowCost(per_row=103.0, per_entry=4.11),
    (LUT, 2): RowCost(per_row=102.8, per_entry=4.24),
    (LUT, 3): RowCost(per_row=130.0, per_entry=4.55),
    (LUT, 4): RowCost(per_row=101.1, per_entry=4.50),
    (LUT, 5): RowCost(per_row=111.5, per_entry=5.00),
    (LUT, 6): RowCost(per_row=118.3, per_entry=5.15),
    (SPARSE, 0): RowCost(per_row=83.4, per_entry=6.50),
    **{(SPARSE_LUT, bits): RowCost(per_row=140.6, per_entry=6.53) for bits in range(1, 5)},
    **{(SPARSE_LUT, bits): RowCost(per_row=108.7, per_entry=8.11) for bits in range(5, MAX_BITS + 1)},
}


@dataclass(frozen=True)
class PackedArray:
    """One array of an encoded filter as it is stored in flash. `name` is the field of the
    kernel's tg_filter_t that points at it."""

    name: str
    c_type: str
    values: np.ndarray
    comment: str

    @property
    def nbytes(self) -> int:
        return int(self.values.size) * _C_TYPE_BYTES[self.c_type]


@dataclass(frozen=True)
class Encoding:
    """A filter of `rows` rows of `length` values in one encoding.

    `bits` is the width of the LUT indices (0: int8 values); `per_channel_tables` says
    whether each row has its own table; `entries` is how many values the kernel multiplies
    per input vector (all of them when dense or LUT, the stored entries when sparse);
    `row_overhead` is what the op's compressed kernel spends per row beyond its row reader;
    `reason` says why this encoding was chosen.
    """

    kind: str
    rows: int
    length: int
    arrays: tuple[PackedArray, ...]
    entries: int
    bits: int = 0
    per_channel_tables: bool = False
    row_overhead: float = 0.0
    reason: str = ""

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays)

    @property
    def dense_bytes(self) -> int:
        return self.rows * self.length

    @property
    def table_stride(self) -> int:
        """Table entries from one row's table to the next (0: one table for all rows)."""
        return 1 << self.bits if self.per_channel_tables else 0

    @property
    def instructions(self) -> float:
        """Estimated Cortex-M4 instructions of the row loops for one input vector."""
        cost = ROW_COSTS[(self.kind, self.bits)]
        overhead = 0.0 if self.kind == DENSE else self.row_overhead
        return self.rows * (cost.per_row + overhead) + self.entries * cost.per_entry

    def describe(self) -> str:
        """E.g. 'lut 4-bit, a table per channel' or 'sparse, 38% of values stored'."""
        parts = [self.kind]
        if self.bits:
            parts.append(f"{self.bits}-bit, " + ("a table per channel" if self.per_channel_tables else "one table"))
        if self.kind in (SPARSE, SPARSE_LUT):
            parts.append(f"{self.entries / max(self.dense_bytes, 1):.0%} of values stored")
        return ", ".join(parts) if len(parts) > 1 else parts[0]


# --- the encodings -------------------------------------------------------------------


def dense(rows: np.ndarray) -> Encoding:
    rows = _as_rows(rows)
    return Encoding(DENSE, rows.shape[0], rows.shape[1], (PackedArray("values", "int8_t", rows.reshape(-1),
                                                                      "int8 values, row after row"),),
                    entries=rows.size)


def lut(rows: np.ndarray, per_channel: bool) -> Encoding | None:
    """Every value as an index into its table, or None if a table would need more than
    2^MAX_BITS entries."""
    rows = _as_rows(rows)
    tables = _tables(list(rows), per_channel)
    bits = _index_bits(tables)
    if bits is None:
        return None
    indices = [np.searchsorted(_table_of(tables, r), row) for r, row in enumerate(rows)]
    return Encoding(LUT, rows.shape[0], rows.shape[1],
                    (_table_array(tables, bits), _indices_array(indices, bits)),
                    entries=rows.size, bits=bits, per_channel_tables=per_channel)


def sparse(rows: np.ndarray) -> Encoding | None:
    """The entries of every row with their int8 values, or None if a row has more entries
    than a count of two bytes holds."""
    rows = _as_rows(rows)
    columns = [_entry_columns(row) for row in rows]
    if max(len(c) for c in columns) > MAX_ROW_ENTRIES:
        return None
    values = np.concatenate([row[c] for row, c in zip(rows, columns)]).astype(np.int8)
    return Encoding(SPARSE, rows.shape[0], rows.shape[1],
                    _entry_arrays(columns) + (PackedArray("values", "int8_t", values, "int8 value of each entry"),),
                    entries=int(values.size))


def sparse_lut(rows: np.ndarray, per_channel: bool) -> Encoding | None:
    """The entries of every row with their values as LUT indices, or None if a table or a
    row's count of entries would be too large."""
    rows = _as_rows(rows)
    columns = [_entry_columns(row) for row in rows]
    if max(len(c) for c in columns) > MAX_ROW_ENTRIES:
        return None
    values = [row[c] for row, c in zip(rows, columns)]
    tables = _tables(values, per_channel)
    bits = _index_bits(tables)
    if bits is None:
        return None
    indices = [np.searchsorted(_table_of(tables, r), row_values) for r, row_values in enumerate(values)]
    return Encoding(SPARSE_LUT, rows.shape[0], rows.shape[1],
                    _entry_arrays(columns) + (_table_array(tables, bits), _indices_array(indices, bits)),
                    entries=sum(len(c) for c in columns), bits=bits, per_channel_tables=per_channel)


def candidates(rows: np.ndarray) -> list[Encoding]:
    """Every compressed encoding that can hold the filter (LUT variants with a table per
    tensor and per channel)."""
    found = [lut(rows, False), lut(rows, True), sparse(rows), sparse_lut(rows, False), sparse_lut(rows, True)]
    return [encoding for encoding in found if encoding is not None]


def encode(rows: np.ndarray, mode: str = "auto", row_overhead: float = 0.0) -> Encoding:
    """The encoding `mode` asks for (see the module's docstring), with its reason.
    `row_overhead`: what the op's compressed kernel spends per row beyond its row reader
    (e.g. DEPTHWISE_TAP_OVERHEAD per tap), counted against the compressed encodings."""
    if mode not in MODES:
        raise ValueError(f"unknown weights mode '{mode}'; choose one of {', '.join(MODES)}")
    plain = dense(rows)
    if mode == DENSE:
        return replace(plain, reason="--weights dense")
    options = [replace(encoding, row_overhead=row_overhead) for encoding in candidates(rows)]
    if mode != "auto":
        forced = [encoding for encoding in options if encoding.kind == mode]
        if not forced:
            return replace(plain, reason=f"{mode} cannot hold it: a table would need more than "
                                         f"{1 << MAX_BITS} values")
        return replace(min(forced, key=lambda e: e.nbytes), reason=f"--weights {mode}")
    worthwhile = [e for e in options if e.nbytes <= (1 - MIN_SAVING) * plain.nbytes
                  and e.instructions <= COST_BUDGET * plain.instructions]
    if not worthwhile:
        return replace(plain, reason=f"no encoding saves {MIN_SAVING:.1%} of the bytes within "
                                     f"{COST_BUDGET}x the instructions")
    best = min(worthwhile, key=lambda e: (e.nbytes, e.instructions))
    return replace(best, reason=f"auto: {best.nbytes / plain.nbytes:.2f}x the bytes, "
                                f"~{best.instructions / plain.instructions:.2f}x the instructions")


# --- helpers -------------------------------------------------------------------------


def _as_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.dtype != np.int8 or 0 in rows.shape:
        raise ValueError(f"expected a non-empty 2-D int8 array of rows, got {rows.dtype} {rows.shape}")
    return rows


def _tables(rows: list[np.ndarray], per_channel: bool) -> list[np.ndarray]:
    """The sorted distinct values of each row (per channel), or of all rows (one table)."""
    if per_channel:
        return [np.unique(row) for row in rows]
    return [np.unique(np.concatenate(rows))]


def _table_of(tables: list[np.ndarray], row: int) -> np.ndarray:
    return tables[row] if len(tables) > 1 else tables[0]


def _index_bits(tables: list[np.ndarray]) -> int | None:
    """The index width that addresses every table (at least 1 bit), or None beyond MAX_BITS."""
    largest = max(len(table) for table in tables)
    bits = max(1, math.ceil(math.log2(max(largest, 1))))
    return bits if bits <= MAX_BITS else None


def _table_array(tables: list[np.ndarray], bits: int) -> PackedArray:
    """The tables, each padded with zeros to 2^bits entries, so that row r's table starts at
    r * 2^bits."""
    padded = np.zeros((len(tables), 1 << bits), dtype=np.int8)
    for position, table in enumerate(tables):
        padded[position, :len(table)] = table
    scope = "each output channel's" if len(tables) > 1 else "the tensor's"
    return PackedArray("table", "int8_t", padded.reshape(-1), f"{scope} int8 centroids, 2^{bits} per table")


def _indices_array(rows: list[np.ndarray], bits: int) -> PackedArray:
    """The rows' indices, row after row, packed WORD_BITS // bits to a uint32 word from the
    lowest bits."""
    indices = np.concatenate(rows).astype(np.uint32)
    per_word = WORD_BITS // bits
    padded = np.zeros(-(-len(indices) // per_word) * per_word, dtype=np.uint32)
    padded[:len(indices)] = indices
    fields = padded.reshape(-1, per_word) << (np.arange(per_word, dtype=np.uint32) * bits)
    return PackedArray("indices", "uint32_t", np.bitwise_or.reduce(fields, axis=1).astype(np.uint32),
                       f"{bits}-bit table indices, {per_word} per word from the lowest bits, row after row")


def _entry_columns(row: np.ndarray) -> np.ndarray:
    """The columns of a row's entries: its nonzero values, plus zero-valued entries every
    MAX_STEP columns of a longer gap, so that each step fits in a byte."""
    columns = np.flatnonzero(row)
    gaps = np.diff(columns, prepend=0)
    bridges = np.maximum(gaps - 1, 0) // MAX_STEP
    if not bridges.any():
        return columns
    starts = columns - gaps
    extra = [start + MAX_STEP * np.arange(1, count + 1) for start, count in zip(starts, bridges) if count]
    return np.sort(np.concatenate([columns] + extra))


def _entry_arrays(columns: list[np.ndarray]) -> tuple[PackedArray, PackedArray]:
    """The count of entries of each row and each entry's step from the previous one."""
    counts = np.array([len(c) for c in columns], dtype=np.uint16)
    steps = np.concatenate([np.diff(c, prepend=0) for c in columns]).astype(np.uint8)
    return (PackedArray("entries", "uint16_t", counts, "entries (nonzero values) of each row"),
            PackedArray("steps", "uint8_t", steps, "columns from each entry to the next (the first: from column 0)"))
