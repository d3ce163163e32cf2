"""Weight encodings of the conv family: the form each filter takes in flash, and its bytes.

Pruning and clustering make a model smaller only if the firmware stores the weights that
way. This module turns a filter, seen as rows (one per output channel, each holding the
values the kernel multiplies with one input vector, in the kernel's order; the lowerings
in tinygen/ops/conv.py make the view), into one of four encodings that the kernels in
templates/kernels/tg_conv_compressed.c decode: on the fly in every dot product
(FULLY_CONNECTED, whose rows each meet one input vector per batch), or into scratch once per
call, then running the dense loops (CONV_2D and DEPTHWISE_CONV_2D, whose rows meet every
output pixel), except pair blocks (below), which every op reads as they are:

- dense: every int8 value, as TFLite stores it.
- lut: a clustered filter with at most 2^bits distinct values per table (bits 1 to 6). The
  values become indices into tables of int8 centroids, in one of three scopes: one table
  for the tensor; one per output channel, stored (full-int8 conversion turns shared float
  clusters into per-channel int8 values); or one per output channel derived by the kernel,
  once per call into scratch, from a codebook of int32 entries for the tensor and each
  channel's output multiplier, which the kernel holds anyway (see "codebook tables" below:
  4 bytes an entry instead of 2^bits bytes a row, so a 4-bit LUT of 64-value rows is 0.5x
  dense instead of 0.75x). Indices are packed 32 // bits to a 32-bit word, lowest bits first, row after row:
  the kernel loads one word and extracts fixed bit fields, unrolled for each width (on
  Cortex-M3 and up, one UBFX per index; 4.5 instructions per value on a Cortex-M4 with the
  loop, against 5.5 for two indices a byte, and the same as unpacked byte indices, measured
  on the compiled loops). Rows are not aligned to words, so short rows (a depthwise
  filter's 9 taps) waste no bits; the kernel reads a row's partial words index by index.
  Pairs: a FULLY_CONNECTED LUT with one stored table for the tensor, indices of at most
  PAIR_MAX_BITS bits and rows of even length (Encoding.paired) is read two values at a time.
  Its kernel writes, once per call into scratch, the 2^(2 bits) pairs of table values as
  the int16 halves of a word, and the input vector as int16 pairs; the 2 * bits-bit field of
  columns c and c + 1 (a word holds an even number of indices) then looks up both weights
  as one SMLAD operand. Rows of whole words go two at a time, sharing each input pair: about
  2 instructions a value on a Cortex-M4, as the dense loop (the anomaly-detection model
  clustered to 16 values per tensor: 1.05x the dense instructions, against 2.2x read value
  by value), for 4 * 2^(2 bits) + 2 * length bytes of scratch.
- sparse: a pruned filter: its entries (the nonzero values) with their int8 values, and
  their columns in one of four forms. Steps: per row, the number of its entries; per entry,
  its step from the previous entry (one byte; the first counts from column 0). A gap of
  more than 255 columns is bridged by entries of value 0, which keeps every step in one
  byte. Bitmap: one bit per value, 1 where an entry is stored, packed 32 to a word from the
  lowest bit as one stream over all rows (rows are not aligned to words, as LUT indices).
  Steps cost 8 bits per entry, the bitmap 1 bit per value: the bitmap is smaller below
  7/8 zeros (3 bits a value at 50 % zeros and 4-bit indices, against 6 with steps). Zeros
  cost neither flash nor a multiply-accumulate; the kernel finds a bitmap's entries by
  counting trailing zeros of the word (RBIT and CLZ on Cortex-M3 and up).
  A third form, blocks, stores whole blocks of BLOCK_VALUES (4) consecutive values of a row,
  zeros included, wherever a block holds a nonzero value, and a bitmap with one bit per
  block (rows of whole blocks only; not DEPTHWISE_CONV_2D, whose rows are taps). Unstructured
  zeros rarely empty a block, but pruning in 1x4 blocks does, and then positions cost 1/4
  bit a value instead of 1 (2.25 bits a value at 50 % and 4-bit indices, against 3), and a
  FULLY_CONNECTED reader multiplies a block of int8 values with two SMLADs. (Read at every
  pixel, block rows cost a CONV_2D 1.04 to 1.08x the dense loop on a Cortex-M4, measured
  on the MLPerf Tiny models pruned so: the walk of each row's bitmap outweighs the empty
  blocks at 50 %; so CONV_2D decodes them as the others.) A fourth form, pair blocks, is
  what makes pruning pay in instructions: pruned in blocks of 2 rows by 4 values, rows 2p
  and 2p + 1 share one bitmap row, and each stored block holds both rows' values. Their
  kernels (CONV_2D and FULLY_CONNECTED, an even number of rows per group) read two rows at
  a time at every pixel, never decoding: a block's input word is loaded and split once for
  8 multiply-accumulates, so a stored block costs about what 8 dense values do and an empty
  one nothing (the pointwise CONV_2D layers of the keyword-spotting model pruned so to
  50 %: 0.83x the dense instructions on a Cortex-M4). FULLY_CONNECTED also reads pair
  blocks of 1-, 2- or 4-bit LUT indices with one table for the tensor (PAIR_BLOCK_BITS: a
  block's 8 indices lie in one word) through the pair table of paired LUT rows.
- sparse-lut: sparse rows whose values are packed LUT indices, as above.

`encode(rows, mode)` picks one. A forced mode (`lut`, `sparse`, `sparse-lut`) uses that
encoding, in its smallest variant (table scope, form of the columns; of two as small, the
cheaper), wherever it can hold the filter, even where it is larger, so that its kernels can be run and measured on any model; a
filter it cannot hold (more than 64 distinct values in a table) stays dense. `auto` takes
the encoding with the fewest bytes among those that save at least MIN_SAVING of the dense
bytes and cost at most COST_BUDGET times the dense kernel's instructions by the cost model
below; if none does, the filter stays dense.

Limits: the encoder never changes a value (outputs stay bit-exact); it neither clusters nor
prunes (training does); the cost model counts instructions per inference of the row loops
and row decoders on a Cortex-M4, a DSP core whose dense loops take two rows at a time with
SMLAD (on cores without DSP, the dense loop costs about twice as much and the model
overrates decoding); it ignores flash wait states, caches, and the patch a CONV_2D decoded
in chunks gathers once per chunk; tables hold 2^bits entries even when fewer are
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
# How sparse rows store the columns of their entries.
STEPS, BITMAP, BLOCKS, PAIR_BLOCKS = "steps", "bitmap", "blocks", "pair-blocks"
POSITIONS = (STEPS, BITMAP, BLOCKS, PAIR_BLOCKS)
BLOCK_VALUES = 4  # the values of a block of a row (TG_BLOCK_VALUES)
# The keys of the sparse kinds with a bitmap or blocks in ROW_COSTS and DECODE_COSTS (Encoding.cost_key).
SPARSE_BITMAP, SPARSE_LUT_BITMAP = f"{SPARSE}+{BITMAP}", f"{SPARSE_LUT}+{BITMAP}"
SPARSE_BLOCKS, SPARSE_LUT_BLOCKS = f"{SPARSE}+{BLOCKS}", f"{SPARSE_LUT}+{BLOCKS}"
SPARSE_PAIR_BLOCKS, SPARSE_LUT_PAIR_BLOCKS = f"{SPARSE}+{PAIR_BLOCKS}", f"{SPARSE_LUT}+{PAIR_BLOCKS}"
# Index widths of LUT pair blocks: a block's 8 indices lie within one word of the stream.
PAIR_BLOCK_BITS = (1, 2, 4)
TENSOR, CHANNEL, CODEBOOK = "tensor", "channel", "codebook"  # the scopes of LUT tables
_SCOPE_WORDS = {TENSOR: "one table", CHANNEL: "a table per channel",
                CODEBOOK: "tables per channel from a codebook of {}"}

MAX_BITS = 6  # beyond 6 bits a table per channel outweighs what the indices save
WORD_BITS = 32
MAX_STEP = np.iinfo(np.uint8).max  # steps are stored in one byte
MAX_ROW_ENTRIES = np.iinfo(np.uint16).max  # entries per row are stored in two bytes

# `auto` keeps an encoding only if it saves at least this share of the dense bytes...
MIN_SAVING = 1 / 8
# ...and its row loops cost at most this many times the dense kernel's instructions.
COST_BUDGET = 1.25

_C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "uint16_t": 2, "uint32_t": 4, "int32_t": 4}

# Codebook tables (see codebook_values): the clamp on |entry * 2^n| that keeps int32 from
# overflowing, the largest n it allows, and the bits dropped from a multiplier to make d.
CODEBOOK_LIMIT = 1 << 30
CODEBOOK_MAX_SHIFT = 30
CODEBOOK_DIVISOR_SHIFT = 8
# Instructions per table entry that tg_codebook_tables spends deriving a codebook's tables,
# once per inference (Cortex-M4).
CODEBOOK_ENTRY_COST = 12.0



def word_bytes(size: int) -> int:
    """`size` bytes rounded up to whole 32-bit words: the scratch the compressed kernels take
    for derived tables and decoded rows, so that what follows them stays aligned."""
    return -(-size // 4) * 4

@dataclass(frozen=True)
class RowCost:
    """Cortex-M4 instructions of a kernel's row loop (or row decoder): `per_row` for each row
    it reads plus `per_entry` for each value it multiplies (or stores), plus `per_value` for
    each value of the row, stored or not (a sparse decoder zeroes the row first)."""

    per_row: float
    per_entry: float
    per_value: float = 0.0

    def total(self, rows: int, entries: int, values: int = 0) -> float:
        return rows * self.per_row + entries * self.per_entry + values * self.per_value


# LUT rows that FULLY_CONNECTED reads two values per SMLAD through a table of weight pairs
# (Encoding.paired): at most PAIR_MAX_BITS-bit indices, so that the pair table, 2^(2 bits)
# words of scratch, stays small. Their kinds in ROW_COSTS: LUT_PAIRS for rows of whole words
# of indices, read two rows at a time; LUT_PAIRS_UNALIGNED for rows that start inside words,
# read one at a time.
PAIR_MAX_BITS = 4
LUT_PAIRS, LUT_PAIRS_UNALIGNED = f"{LUT}-pairs", f"{LUT}-pairs-unaligned"

# Instructions measured in QEMU (mps2-an386, Cortex-M4, arm-none-eabi-gcc 12 -O2) and
# fitted by `benchmarks/weights.py --measure-costs` on the FULLY_CONNECTED layers of the
# MLPerf Tiny anomaly-detection model (rows of 8, 128 and 640 values), clustered and pruned.
# per_row includes the requantization of the row's output. Sparse LUT rows were measured
# with 4- and 6-bit indices; narrower (wider) indices decode the same way and take the
# 4-bit (6-bit) figures.
# The dense row: the SMLAD loop of tg_conv.c (two rows at a time), measured the same way on
# the model's dense FULLY_CONNECTED layers; the dense CONV_2D runs the same loop per pixel.
ROW_COSTS = {
    (DENSE, 0): RowCost(per_row=72.8, per_entry=2.00),
    (LUT, 1): RowCost(per_row=103.0, per_entry=4.11),
    (LUT, 2): RowCost(per_row=102.8, per_entry=4.24),
    (LUT, 3): RowCost(per_row=130.0, per_entry=4.55),
    (LUT, 4): RowCost(per_row=101.1, per_entry=4.50),
    (LUT, 5): RowCost(per_row=111.5, per_entry=5.00),
    (LUT, 6): RowCost(per_row=118.3, per_entry=5.15),
    # Paired LUT rows, measured the same way with the filters clustered to 2^bits int8 values
    # per tensor, the kernel's setup (PAIR_TABLE_ENTRY_COST, PAIR_SPLIT_VALUE_COST) subtracted.
    # 3-bit rows of whole words came in one shape only (128 rows of 640): per_row is taken
    # from the other widths. Rows that start inside words: fitted over widths 1 to 3 together
    # (3-bit rows of 8 and 128 values, 1- and 2-bit rows of 8; the model has no 4-bit ones,
    # which walk the same way).
    (LUT_PAIRS, 1): RowCost(per_row=71.1, per_entry=1.82),
    (LUT_PAIRS, 2): RowCost(per_row=71.2, per_entry=1.90),
    (LUT_PAIRS, 3): RowCost(per_row=70.0, per_entry=2.00),
    (LUT_PAIRS, 4): RowCost(per_row=68.4, per_entry=2.06),
    **{(LUT_PAIRS_UNALIGNED, bits): RowCost(per_row=101.1, per_entry=2.70) for bits in range(1, PAIR_MAX_BITS + 1)},
    (SPARSE, 0): RowCost(per_row=83.4, per_entry=6.50),
    **{(SPARSE_LUT, bits): RowCost(per_row=140.6, per_entry=6.53) for bits in range(1, 5)},
    **{(SPARSE_LUT, bits): RowCost(per_row=108.7, per_entry=8.11) for bits in range(5, MAX_BITS + 1)},
    # Sparse rows with a bitmap, measured the same way (0 to 90 % pruned, 4-bit indices for
    # every width): per_value is the walk over the bitmap's words (and, for indices, the
    # count of each row's entries).
    (SPARSE_BITMAP, 0): RowCost(per_row=84.6, per_entry=8.01, per_value=0.36),
    **{(SPARSE_LUT_BITMAP, bits): RowCost(per_row=167.4, per_entry=9.65, per_value=0.62)
       for bits in range(1, MAX_BITS + 1)},
    # Block rows: per_entry per value of a stored block, per_value the walk over the bitmap.
    # Int8 values: estimated from the compiled reader (15 instructions a block, SMLAD); on the
    # anomaly-detection model pruned in 1x4 blocks to 50 %, 0.99x the dense instructions in
    # QEMU. LUT indices, each looked up at its position in the index stream: per_entry from
    # the same model clustered to 16 values (3.23M instructions against 0.65M dense), the
    # other figures assumed.
    (SPARSE_BLOCKS, 0): RowCost(per_row=80.0, per_entry=3.75, per_value=0.1),
    **{(SPARSE_LUT_BLOCKS, bits): RowCost(per_row=100.0, per_entry=23.0, per_value=0.1)
       for bits in range(1, MAX_BITS + 1)},
    # Pair blocks, two rows a call: per_entry from QEMU runs of the models pruned in 2x4
    # blocks to 50 % (int8: the keyword-spotting model's 1x1 CONV_2D layers and the
    # anomaly-detection model, 3.1 a value; 4-bit LUT indices through the pair table: the
    # anomaly-detection model clustered to 16 values, 4.2), per_row and per_value estimated.
    (SPARSE_PAIR_BLOCKS, 0): RowCost(per_row=65.0, per_entry=3.1, per_value=0.05),
    **{(SPARSE_LUT_PAIR_BLOCKS, bits): RowCost(per_row=75.0, per_entry=4.2, per_value=0.1)
       for bits in PAIR_BLOCK_BITS},
}
# The paired kernel's work before its row loops (Cortex-M4 instructions, counted on its
# compiled loops): per pair-table entry, once per inference, and per value of each input
# vector it splits into pairs.
PAIR_TABLE_ENTRY_COST = 7.3
PAIR_SPLIT_VALUE_COST = 4.0

# The row decoders' costs (tg_row_decode_t: each value stored into scratch, once per
# inference), measured in QEMU (Cortex-M4, the same compiler) by `benchmarks/weights.py
# --measure-costs` on the CONV_2D layers of the MLPerf Tiny keyword-spotting model (64 rows
# of 40 and of 64 values): each compressed run's count minus the dense run's. LUT: fitted
# over widths 1 to 5 together (per width, rows that start or end inside a word make the
# split between per_row and per_entry unstable; the totals of a 64x64 filter lie within
# 20 % of the fit). Sparse: 50 % and 75 % pruned. Sparse LUT: 2-bit indices, the derivation
# of the variant's codebook tables (CODEBOOK_ENTRY_COST) subtracted and the sparse rows'
# per_value assumed; wider indices take the same figures.
DECODE_COSTS = {
    **{(LUT, bits): RowCost(per_row=118.0, per_entry=2.96) for bits in range(1, MAX_BITS + 1)},
    (SPARSE, 0): RowCost(per_row=83.0, per_entry=6.50, per_value=0.27),
    **{(SPARSE_LUT, bits): RowCost(per_row=180.0, per_entry=6.80, per_value=0.27)
       for bits in range(1, MAX_BITS + 1)},
    # Estimated from the bitmap readers' figures above (a store for the multiply, plus the
    # row's zeroing), not measured: --measure-costs fits them.
    (SPARSE_BITMAP, 0): RowCost(per_row=40.0, per_entry=7.0, per_value=0.66),
    **{(SPARSE_LUT_BITMAP, bits): RowCost(per_row=90.0, per_entry=8.6, per_value=0.92)
       for bits in range(1, MAX_BITS + 1)},
    # Block rows, estimated (a block copied, or four indices looked up, after zeroing the row).
    (SPARSE_BLOCKS, 0): RowCost(per_row=40.0, per_entry=1.5, per_value=0.35),
    **{(SPARSE_LUT_BLOCKS, bits): RowCost(per_row=60.0, per_entry=9.0, per_value=0.35)
       for bits in range(1, MAX_BITS + 1)},
}


@dataclass(frozen=True)
class Requantization:
    """Each row's output multiplier as the kernel's tg_conv_requant_t stores it:
    multipliers[r] * 2^(shifts[r] - 31), the multipliers Q31 significands in [2^30, 2^31)."""

    multipliers: np.ndarray
    shifts: np.ndarray


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
    whether each row has its own table, stored or, when the arrays hold a `codebook`,
    derived by the kernel (`codebook_shift` is then the largest output shift); `entries`
    is how many values the kernel multiplies per input vector (all of them when dense or
    LUT, the stored entries when sparse);
    `positions` says how sparse rows give their entries' columns (STEPS or BITMAP; empty
    for dense and LUT); `vectors` is how many input vectors each row meets per inference
    (pixels times batches); `decoded` says whether the op's kernel decodes the filter into
    scratch once per inference and runs the dense loop (CONV_2D, DEPTHWISE_CONV_2D) rather
    than reading the rows in every dot product (FULLY_CONNECTED); `reason` says why this
    encoding was chosen.
    """

    kind: str
    rows: int
    length: int
    arrays: tuple[PackedArray, ...]
    entries: int
    bits: int = 0
    per_channel_tables: bool = False
    positions: str = ""
    codebook_shift: int = 0
    vectors: int = 1
    decoded: bool = False
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
    def table_scope(self) -> str:
        """TENSOR, CHANNEL or CODEBOOK for LUTs (see the module's docstring), else empty."""
        if not self.bits:
            return ""
        if any(array.name == "codebook" for array in self.arrays):
            return CODEBOOK
        return CHANNEL if self.per_channel_tables else TENSOR

    @property
    def codebook_size(self) -> int:
        return sum(array.values.size for array in self.arrays if array.name == "codebook")

    @property
    def table_scratch_bytes(self) -> int:
        """Scratch where the kernel derives the tables of a codebook: 2^bits bytes a row,
        rounded up to whole words so that the kernel's own scratch after them is aligned."""
        return word_bytes(self.rows << self.bits) if self.table_scope == CODEBOOK else 0

    @property
    def paired(self) -> bool:
        """Whether FULLY_CONNECTED reads the rows two values per SMLAD through a table of
        weight pairs (see the module's docstring): LUT rows read on the fly (not `decoded`),
        one stored table for the tensor, indices of at most PAIR_MAX_BITS, even length."""
        return (self.kind == LUT and not self.decoded and self.table_scope == TENSOR
                and self.bits <= PAIR_MAX_BITS and self.length % 2 == 0)

    @property
    def lut_pair_blocks(self) -> bool:
        """Pair blocks of LUT indices, which only FULLY_CONNECTED has a kernel for (through a
        pair table, as `paired` rows)."""
        return self.kind == SPARSE_LUT and self.positions == PAIR_BLOCKS

    @property
    def pair_scratch_bytes(self) -> int:
        """Scratch of the kernels with a pair table (TG_LUT_PAIRS_SCRATCH_BYTES): the pair
        table, 2^(2 bits) words, then one input vector as int16 pairs; else 0."""
        if not (self.paired or self.lut_pair_blocks):
            return 0
        return 4 * (1 << 2 * self.bits) + word_bytes(2 * self.length)

    @property
    def setup_instructions(self) -> float:
        """Estimated Cortex-M4 instructions per inference before the row loops: deriving a
        codebook's tables, or building a pair table and splitting each input vector."""
        if self.paired or self.lut_pair_blocks:
            return (1 << 2 * self.bits) * PAIR_TABLE_ENTRY_COST + self.vectors * self.length * PAIR_SPLIT_VALUE_COST
        return self.rows * self.codebook_size * CODEBOOK_ENTRY_COST

    @property
    def cost_key(self) -> tuple[str, int]:
        """Its row loop's key in ROW_COSTS and DECODE_COSTS: the kind (SPARSE_BITMAP,
        SPARSE_LUT_BITMAP, SPARSE_BLOCKS or SPARSE_LUT_BLOCKS for sparse rows with a bitmap or
        blocks, LUT_PAIRS or LUT_PAIRS_UNALIGNED for paired rows) and the index width."""
        if self.paired:
            whole_words = self.length % (WORD_BITS // self.bits) == 0
            return LUT_PAIRS if whole_words else LUT_PAIRS_UNALIGNED, self.bits
        if self.positions == BITMAP:
            return {SPARSE: SPARSE_BITMAP, SPARSE_LUT: SPARSE_LUT_BITMAP}[self.kind], self.bits
        if self.positions == BLOCKS:
            return {SPARSE: SPARSE_BLOCKS, SPARSE_LUT: SPARSE_LUT_BLOCKS}[self.kind], self.bits
        if self.positions == PAIR_BLOCKS:
            return {SPARSE: SPARSE_PAIR_BLOCKS, SPARSE_LUT: SPARSE_LUT_PAIR_BLOCKS}[self.kind], self.bits
        return self.kind, self.bits

    @property
    def read_directly(self) -> bool:
        """Whether every op reads the rows at each input vector, never decoding them: pair
        blocks, which have no decoder (see the module's docstring)."""
        return self.positions == PAIR_BLOCKS

    @property
    def instructions(self) -> float:
        """Estimated Cortex-M4 instructions per inference of the layer's filter loops: the
        row loop's cost for one input vector times `vectors`, where a `decoded` compressed
        filter costs its decoding (once) plus the dense loop's; plus the setup
        (setup_instructions)."""
        if self.decoded and self.kind != DENSE and not self.read_directly:
            decoding = DECODE_COSTS[self.cost_key].total(self.rows, self.entries, self.dense_bytes)
            loops = decoding + self.vectors * ROW_COSTS[(DENSE, 0)].total(self.rows, self.dense_bytes)
        else:
            loops = self.vectors * ROW_COSTS[self.cost_key].total(self.rows, self.entries, self.dense_bytes)
        return loops + self.setup_instructions

    def describe(self) -> str:
        """E.g. 'lut 4-bit, a table per channel', 'lut 4-bit, one table, read in pairs of
        values' or 'sparse, 38% of values stored, bitmap'."""
        parts = [self.kind]
        if self.bits:
            parts.append(f"{self.bits}-bit, " + _SCOPE_WORDS[self.table_scope].format(self.codebook_size))
        if self.paired:
            parts.append("read in pairs of values")
        if self.kind in (SPARSE, SPARSE_LUT):
            parts.append(f"{self.entries / max(self.dense_bytes, 1):.0%} of values stored, {self.positions}")
        return ", ".join(parts) if len(parts) > 1 else parts[0]


# --- the encodings -------------------------------------------------------------------


def dense(rows: np.ndarray) -> Encoding:
    rows = _as_rows(rows)
    return Encoding(DENSE, rows.shape[0], rows.shape[1], (PackedArray("values", "int8_t", rows.reshape(-1),
                                                                      "int8 values, row after row"),),
                    entries=rows.size)


def lut(rows: np.ndarray, per_channel: bool, requant: Requantization | None = None) -> Encoding | None:
    """Every value as an index into its table, or None if a table would need more than
    2^MAX_BITS entries. With `requant`, the tables per channel come from a codebook (None
    if none holds them)."""
    rows = _as_rows(rows)
    found = _lut_arrays(list(rows), per_channel, requant)
    if found is None:
        return None
    arrays, bits, shift = found
    return Encoding(LUT, rows.shape[0], rows.shape[1], arrays, entries=rows.size, bits=bits,
                    per_channel_tables=per_channel, codebook_shift=shift)


def sparse(rows: np.ndarray, positions: str = STEPS) -> Encoding | None:
    """The entries of every row with their int8 values, their columns as `positions`, or
    None if a row has more entries than a count of two bytes holds (steps)."""
    rows = _as_rows(rows)
    columns = _sparse_columns(rows, positions)
    if columns is None:
        return None
    values = _entry_values(rows, columns, positions)
    return Encoding(SPARSE, rows.shape[0], rows.shape[1],
                    _position_arrays(rows, columns, positions)
                    + (PackedArray("values", "int8_t", values, "int8 value of each entry"),),
                    entries=int(values.size), positions=positions)


def sparse_lut(rows: np.ndarray, per_channel: bool, positions: str = STEPS,
               requant: Requantization | None = None) -> Encoding | None:
    """The entries of every row with their values as LUT indices, their columns as
    `positions`, or None if a table or a row's count of entries (steps) would be too large.
    `requant`: as for lut()."""
    rows = _as_rows(rows)
    columns = _sparse_columns(rows, positions)
    if columns is None:
        return None
    if positions == PAIR_BLOCKS:
        # One table, the indices in the order of the values (block by block of each pair).
        if per_channel or requant is not None:
            return None
        found = _lut_arrays([_entry_values(rows, columns, positions)], False, None)
        if found is None or found[1] not in PAIR_BLOCK_BITS:
            return None
    else:
        found = _lut_arrays([row[c] for row, c in zip(rows, columns)], per_channel, requant)
    if found is None:
        return None
    arrays, bits, shift = found
    return Encoding(SPARSE_LUT, rows.shape[0], rows.shape[1], _position_arrays(rows, columns, positions) + arrays,
                    entries=sum(len(c) for c in columns), bits=bits, per_channel_tables=per_channel,
                    positions=positions, codebook_shift=shift)


def candidates(rows: np.ndarray, requant: Requantization | None = None,
               positions: tuple[str, ...] = POSITIONS) -> list[Encoding]:
    """Every compressed encoding that can hold the filter (LUT variants with a table per
    tensor and per channel, sparse variants with each of `positions`), and, given the rows'
    `requant`, those whose tables per channel come from a codebook."""
    found = [lut(rows, False), lut(rows, True)]
    for position in positions:
        found += [sparse(rows, position), sparse_lut(rows, False, position), sparse_lut(rows, True, position)]
    if requant is not None:
        found += [lut(rows, True, requant)] + [sparse_lut(rows, True, position, requant) for position in positions]
    return [encoding for encoding in found if encoding is not None]


def encode(rows: np.ndarray, mode: str = "auto", requant: Requantization | None = None, vectors: int = 1,
           decoded: bool = False, positions: tuple[str, ...] = POSITIONS) -> Encoding:
    """The encoding `mode` asks for (see the module's docstring), with its reason.
    `requant`: the rows' output multipliers, where they differ between channels (codebook
    tables need them); `vectors`: the input vectors each row meets per inference;
    `decoded`: whether the op's kernel decodes a compressed filter into scratch (see
    Encoding; both weigh the instructions of `auto`); `positions`: the forms of sparse rows
    the op's kernels take."""
    if mode not in MODES:
        raise ValueError(f"unknown weights mode '{mode}'; choose one of {', '.join(MODES)}")
    plain = replace(dense(rows), vectors=vectors)
    if mode == DENSE:
        return replace(plain, reason="--weights dense")
    options = [replace(encoding, vectors=vectors, decoded=decoded)
               for encoding in candidates(rows, requant, positions)
               if not (decoded and encoding.lut_pair_blocks)]  # a kernel for FULLY_CONNECTED only
    if mode != "auto":
        forced = [encoding for encoding in options if encoding.kind == mode]
        if not forced:
            return replace(plain, reason=f"{mode} cannot hold it: a table would need more than "
                                         f"{1 << MAX_BITS} values")
        return replace(min(forced, key=lambda e: (e.nbytes, e.instructions)), reason=f"--weights {mode}")
    worthwhile = [e for e in options if e.nbytes <= (1 - MIN_SAVING) * plain.nbytes
                  and e.instructions <= COST_BUDGET * plain.instructions]
    if not worthwhile:
        return replace(plain, reason=f"no encoding saves {MIN_SAVING:.1%} of the bytes within "
                                     f"{COST_BUDGET}x the instructions")
    best = min(worthwhile, key=lambda e: (e.nbytes, e.instructions))
    return replace(best, reason=f"auto: {best.nbytes / plain.nbytes:.2f}x the bytes, "
                                f"~{best.instructions / plain.instructions:.2f}x the instructions")


# --- codebook tables -----------------------------------------------------------------
#
# Full-int8 conversion of a filter clustered per tensor stores v = round(c / s_ch) for each
# float centroid c in channel ch: the int8 values differ from channel to channel, a table per
# channel costs 2^bits bytes a row. But the kernel already holds each channel's output
# multiplier m_ch = input_scale * s_ch / output_scale, so v = round(K / m_ch) with
# K = c * input_scale / output_scale the same in every channel: one table of integers K for
# the tensor gives every channel's table. The kernel derives them once per call into scratch
# with an integer formula, codebook_values, which the encoder runs too (the same words are in
# tg_codebook_tables): it finds, for every (row, value), the interval of integer entries Q
# that give that value in that row (the formula is monotone in Q), picks as few entries as
# stab every interval (greedily, by upper end: optimal for intervals on a line), and keeps
# the codebook only if the derived tables give every stored value back exactly. Limits: the
# codebook holds at most 2^MAX_BITS entries; it fails, and the filter keeps stored tables,
# where channels were clustered independently, or where a channel's multiplier is 2^30 times
# smaller than the largest (n beyond CODEBOOK_MAX_SHIFT).


def codebook_values(entries: np.ndarray, divisors: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The int8 value that codebook entry Q gives in a row (elementwise, int64 arrays), as
    tg_codebook_tables computes it: with d = multiplier >> 8 (in [2^22, 2^23)) and n = the
    codebook's shift - the row's shift (0 to 30), N = clamp(Q, -(2^30 >> n), 2^30 >> n) * 2^n
    (|N| <= 2^30), v = clamp((N >= 0 ? N + d / 2 : N - d / 2) / d, -127, 127), C's division
    truncating toward zero: N / d rounded half away from zero (clamped to the symmetric int8
    range, so that a weight the converter clipped to +-127 is still derived). A multiplier of
    0 (d = 0) gives 0."""
    live = divisors != 0
    shifts = np.where(live, shifts, 0)
    limits = CODEBOOK_LIMIT >> shifts
    scaled = np.clip(entries, -limits, limits) << shifts
    halves = divisors // 2
    rounded = np.where(scaled >= 0, scaled + halves, scaled - halves)
    quotients = np.sign(rounded) * (np.abs(rounded) // np.where(live, divisors, 1))
    return np.where(live, np.clip(quotients, -127, 127), 0)


def codebook(tables: list[np.ndarray], requant: Requantization) -> tuple[np.ndarray, list[np.ndarray], int] | None:
    """A codebook from which codebook_values derives every row's table: its entries
    (ascending), for each row the entry of each value of `tables[row]` (its sorted distinct
    values), and the codebook's shift; None if it needs more than 2^MAX_BITS entries, or a
    multiplier is out of its range, or the derived tables would miss a value."""
    multipliers = np.asarray(requant.multipliers, dtype=np.int64)
    shifts = np.asarray(requant.shifts, dtype=np.int64)
    # A row whose multiplier is 0 (a real multiplier below 2^-31) outputs its zero point
    # whatever its weights: the kernel gives it a table of zeros, and it constrains nothing.
    live = multipliers != 0
    if not live.any():
        return None
    codebook_shift = int(shifts[live].max())
    if multipliers[live].min() < 1 << 30 or codebook_shift - shifts[live].min() > CODEBOOK_MAX_SHIFT:
        return None
    divisors, row_shifts = multipliers >> CODEBOOK_DIVISOR_SHIFT, codebook_shift - shifts
    pair_rows = np.concatenate([np.full(len(table), row) for row, table in enumerate(tables) if live[row]])
    pair_values = np.concatenate([table for row, table in enumerate(tables) if live[row]]).astype(np.int64)
    pair_divisors, pair_shifts = divisors[pair_rows], row_shifts[pair_rows]
    lows = _first_entry_reaching(pair_values, pair_divisors, pair_shifts)
    highs = _first_entry_reaching(pair_values + 1, pair_divisors, pair_shifts) - 1
    if np.any(lows > highs):
        return None
    entries: list[int] = []
    for pair in np.argsort(highs, kind="stable"):
        if not entries or lows[pair] > entries[-1]:
            entries.append(int(highs[pair]))
    if len(entries) > 1 << MAX_BITS:
        return None
    points = np.array(entries, dtype=np.int64)
    slots = np.searchsorted(points, lows)
    derived = codebook_values(points[slots], pair_divisors, pair_shifts)
    if not np.array_equal(derived, pair_values):
        return None
    row_slots = iter(np.split(slots, np.cumsum([len(table) for row, table in enumerate(tables) if live[row]])[:-1]))
    return (points.astype(np.int32),
            [next(row_slots) if live[row] else np.zeros(len(table), dtype=np.int64) for row, table in enumerate(tables)],
            codebook_shift)


def _first_entry_reaching(values: np.ndarray, divisors: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Per (value, divisor, shift), the smallest entry in [-CODEBOOK_LIMIT, CODEBOOK_LIMIT]
    whose codebook value is at least `value`, or CODEBOOK_LIMIT + 1 if none is: a binary
    search, the values being monotone in the entry."""
    lows = np.full(values.shape, -CODEBOOK_LIMIT, dtype=np.int64)
    highs = np.full(values.shape, CODEBOOK_LIMIT + 1, dtype=np.int64)
    while np.any(lows < highs):
        middles = (lows + highs) // 2
        open_ = lows < highs
        reached = codebook_values(middles, divisors, shifts) >= values
        highs = np.where(open_ & reached, middles, highs)
        lows = np.where(open_ & ~reached, middles + 1, lows)
    return lows


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


def _lut_arrays(values: list[np.ndarray], per_channel: bool,
                requant: Requantization | None) -> tuple[tuple[PackedArray, ...], int, int] | None:
    """The tables (or, given `requant` and per channel, the codebook) and packed indices of
    LUT rows holding `values` (each row's values in order), with the index width and the
    codebook's shift; None if no tables of at most 2^MAX_BITS entries hold them."""
    tables = _tables(values, per_channel)
    if per_channel and requant is not None:
        found = codebook(tables, requant)
        if found is None:
            return None
        entries, slots, shift = found
        bits = _index_bits([entries])
        indices = [slots[r][np.searchsorted(tables[r], row)] for r, row in enumerate(values)]
        comment = f"the tensor's codebook: entry i gives table entry i of every channel, {len(entries)} entries"
        return (PackedArray("codebook", "int32_t", entries, comment), _indices_array(indices, bits)), bits, shift
    bits = _index_bits(tables)
    if bits is None:
        return None
    indices = [np.searchsorted(_table_of(tables, r), row) for r, row in enumerate(values)]
    return (_table_array(tables, bits), _indices_array(indices, bits)), bits, 0


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


def _sparse_columns(rows: np.ndarray, positions: str) -> list[np.ndarray] | None:
    """The columns of each row's entries: its nonzero values, plus bridging entries with
    steps, or every value of its blocks that hold a nonzero value; None if a row then has
    more entries than a count of two bytes holds (steps), or is no whole number of blocks."""
    if positions == BITMAP:
        return [np.flatnonzero(row) for row in rows]
    if positions in (BLOCKS, PAIR_BLOCKS):
        if rows.shape[1] % BLOCK_VALUES or (positions == PAIR_BLOCKS and rows.shape[0] % 2):
            return None
        stored = _stored_blocks(rows) if positions == BLOCKS else np.repeat(_stored_pair_blocks(rows), 2, axis=0)
        return [(np.flatnonzero(row_blocks)[:, None] * BLOCK_VALUES + np.arange(BLOCK_VALUES)).reshape(-1)
                for row_blocks in stored]
    columns = [_entry_columns(row) for row in rows]
    return None if max(len(c) for c in columns) > MAX_ROW_ENTRIES else columns


def _position_arrays(rows: np.ndarray, columns: list[np.ndarray], positions: str) -> tuple[PackedArray, ...]:
    """The arrays that give the entries' columns: counts and steps, or the bitmap of values
    or of blocks."""
    if positions == BITMAP:
        return (_bitmap_array(rows != 0, "a bit per value, 1 where stored"),)
    if positions == BLOCKS:
        return (_bitmap_array(_stored_blocks(rows), f"a bit per block of {BLOCK_VALUES} values, 1 where stored"),)
    if positions == PAIR_BLOCKS:
        return (_bitmap_array(_stored_pair_blocks(rows), f"a bit per block of 2 rows by {BLOCK_VALUES} values, "
                                                         "1 where stored, row pair after row pair"),)
    return _entry_arrays(columns)


def _entry_values(rows: np.ndarray, columns: list[np.ndarray], positions: str) -> np.ndarray:
    """The int8 values of the entries, row after row; for pair blocks, block after block of
    each pair of rows, the first row's values of a block, then the second's."""
    if positions != PAIR_BLOCKS:
        return np.concatenate([row[c] for row, c in zip(rows, columns)]).astype(np.int8)
    pairs = []
    for first, second, pair_columns in zip(rows[0::2], rows[1::2], columns[0::2]):
        blocks = pair_columns.reshape(-1, BLOCK_VALUES)
        pairs.append(np.stack([first[blocks], second[blocks]], axis=1).reshape(-1))
    return np.concatenate(pairs).astype(np.int8)


def _stored_pair_blocks(rows: np.ndarray) -> np.ndarray:
    """Per pair of rows, per block of BLOCK_VALUES columns: whether either row's block holds a
    nonzero value."""
    blocks = _stored_blocks(rows)
    return blocks[0::2] | blocks[1::2]


def _stored_blocks(rows: np.ndarray) -> np.ndarray:
    """Per row, per block of BLOCK_VALUES consecutive values: whether it holds a nonzero value."""
    return rows.reshape(rows.shape[0], -1, BLOCK_VALUES).any(axis=2)


def _bitmap_array(stored: np.ndarray, meaning: str) -> PackedArray:
    """The bits of `stored` (rows of bits), packed into uint32 words from the lowest bit as
    one stream over all rows (a row may start inside a word)."""
    packed = np.packbits(stored.reshape(-1), bitorder="little")
    words = np.zeros(-(-packed.size // 4) * 4, dtype=np.uint8)
    words[:packed.size] = packed
    return PackedArray("bitmap", "uint32_t", words.view("<u4").astype(np.uint32),
                       f"{meaning}, 32 per word from the lowest bit, row after row")


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
