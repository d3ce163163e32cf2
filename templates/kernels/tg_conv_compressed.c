/*
 * tinygen kernels: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on compressed filters
 * (see tg_conv_compressed.h and tg_filter_t in tg_conv.h).
 *
 * FULLY_CONNECTED is tg_conv.h's loop nest with a row reader below, which decodes on the
 * fly, without a buffer: a FULLY_CONNECTED of one batch reads each row once. CONV_2D and
 * DEPTHWISE_CONV_2D read each row once per output pixel, so they decode the filter into
 * scratch with a row decoder below, once per call, and run the dense kernels of tg_conv.c
 * on it: on DSP cores the dense CONV_2D multiplies two rows at a time with SMLAD, about
 * 2 instructions a value against 4.5 for the LUT reader. CONV_2D decodes the whole filter
 * if the scratch holds it, else a chunk of rows at a time (the patch then is gathered once
 * per pixel and chunk); DEPTHWISE_CONV_2D transposes its rows (one per output channel)
 * into the dense kernel's [taps, channels] layout.
 *
 * A reader and a decoder of one encoding walk the row with the same code. LUT rows: one
 * 32-bit word of indices at a time, its fields extracted at constant positions (a loop
 * unrolled for each index width: one reader and one decoder per width); a row that starts
 * or ends inside a word reads those indices one at a time. Sparse rows: each entry advances
 * the column by its step and multiplies (or stores) one value, so that zeros cost no
 * multiply-accumulate (a decoder zeroes the row first); with a bitmap, each
 * entry (or block) is the lowest 1 bit left in the row's current bitmap word (RBIT and
 * CLZ). The generated code passes the reader its filter needs to the kernel, so a firmware
 * linked with --gc-sections keeps only the readers its model uses.
 *
 * CONV_2D and FULLY_CONNECTED on pair blocks (blocks of 2 rows by 4 values) have kernels
 * of their own that read two rows at a time, skipping empty blocks. FULLY_CONNECTED on a
 * LUT with one table for the tensor (1- to 4-bit indices, rows of even length), and on pair
 * blocks of such indices, has kernels of its own, at the end of the file: two values per
 * SMLAD through a table of weight pairs built once per call.
 */
#include "tg_conv_compressed.h"

#include <string.h>

#define TG_WORD_BITS 32

/*
 * TG_UNROLL(n): unroll the next loop n times. TG_PER_WIDTH: a function taking the index
 * width `bits`, inlined into each reader (and decoder) so that `bits` is a constant in its
 * loops.
 * (GCC and Clang; other compilers take the plain forms.)
 */
#if defined(__GNUC__)
#define TG_PRAGMA(text) _Pragma(#text)
#define TG_UNROLL(times) TG_PRAGMA(GCC unroll times)
#define TG_PER_WIDTH static inline __attribute__((always_inline))
#else
#define TG_UNROLL(times)
#define TG_PER_WIDTH static inline
#endif

/* Entry i of the table that a word of `bits`-bit indices points into. */
static inline int32_t tg_lut_value(const int8_t *table, uint32_t word, int32_t i, int32_t bits)
{
    return table[(word >> (i * bits)) & ((1u << bits) - 1u)];
}

/*
 * The row walks below serve the readers and the decoders alike: each value a walk reads,
 * at `column` of the row, goes to tg_take, which returns its product with vector[column]
 * for the walk to add up (a reader: `decoded` is NULL), or stores it in decoded[column]
 * and returns 0 (a decoder: `vector` is NULL). Each reader and decoder inlines its walk
 * with one of the two a constant NULL, so the test folds away and only its own work stays.
 */
static inline int32_t tg_take(int32_t value, int32_t column, const int8_t *vector, int8_t *decoded)
{
    if (decoded != NULL) {
        decoded[column] = (int8_t)value;
        return 0;
    }
    return value * vector[column];
}

/* Indices first .. first + count - 1 of `word` (table entries), taken at columns column ... */
TG_PER_WIDTH int32_t tg_lut_part(uint32_t word, int32_t first, int32_t count, const int8_t *table,
                                 const int8_t *vector, int8_t *decoded, int32_t column, int32_t bits)
{
    int32_t sum = 0;
    word >>= first * bits;
    for (int32_t i = 0; i < count; ++i, word >>= bits) {
        sum += tg_take(tg_lut_value(table, word, 0, bits), column + i, vector, decoded);
    }
    return sum;
}

/*
 * Walk a LUT row of `length` values whose indices start at index `field` of words[0]: the
 * rest of that word, then whole words (the loop unrolled), then the first indices of the
 * last word. Returns the sum of tg_take.
 */
TG_PER_WIDTH int32_t tg_lut_walk(const uint32_t *words, int32_t field, const int8_t *table, const int8_t *vector,
                                 int8_t *decoded, int32_t length, const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits;
    int32_t column = 0;
    int32_t sum = 0;
    if (field != 0) {
        column = TG_MIN(per_word - field, length);
        sum += tg_lut_part(*words++, field, column, table, vector, decoded, 0, bits);
    }
    for (; column + per_word <= length; column += per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(32) /* every index of a word: 32 / bits times */
        for (int32_t i = 0; i < per_word; ++i) {
            sum += tg_take(tg_lut_value(table, word, i, bits), column + i, vector, decoded);
        }
    }
    if (column < length) {
        sum += tg_lut_part(*words, 0, length - column, table, vector, decoded, column, bits);
    }
    return sum;
}

/* As tg_lut_part for sparse entries: each moves *column by its step, then is taken there. */
TG_PER_WIDTH int32_t tg_sparse_lut_part(uint32_t word, int32_t first, int32_t count, const uint8_t *steps,
                                        const int8_t *table, const int8_t *vector, int8_t *decoded,
                                        int32_t *column, int32_t bits)
{
    int32_t sum = 0;
    word >>= first * bits;
    for (int32_t i = 0; i < count; ++i, word >>= bits) {
        *column += steps[i];
        sum += tg_take(tg_lut_value(table, word, 0, bits), *column, vector, decoded);
    }
    return sum;
}

/* As tg_lut_walk for `count` sparse entries whose values are LUT indices. */
TG_PER_WIDTH int32_t tg_sparse_lut_walk(const uint32_t *words, int32_t field, const uint8_t *steps,
                                        const int8_t *table, const int8_t *vector, int8_t *decoded, int32_t count,
                                        const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits;
    int32_t column = 0;
    int32_t sum = 0;
    if (field != 0) {
        const int32_t head = TG_MIN(per_word - field, count);
        sum += tg_sparse_lut_part(*words++, field, head, steps, table, vector, decoded, &column, bits);
        steps += head;
        count -= head;
    }
    for (; count >= per_word; count -= per_word, steps += per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(32) /* every index of a word: 32 / bits times */
        for (int32_t i = 0; i < per_word; ++i) {
            column += steps[i];
            sum += tg_take(tg_lut_value(table, word, i, bits), column, vector, decoded);
        }
    }
    if (count > 0) {
        sum += tg_sparse_lut_part(*words, 0, count, steps, table, vector, decoded, &column, bits);
    }
    return sum;
}

/* Walk `count` sparse entries of int8 values. Returns the sum of tg_take. */
static inline int32_t tg_sparse_walk(const uint8_t *steps, const int8_t *values, const int8_t *vector,
                                     int8_t *decoded, int32_t count)
{
    int32_t column = 0;
    int32_t sum = 0;
    TG_UNROLL(4)
    for (int32_t n = 0; n < count; ++n) {
        column += steps[n];
        sum += tg_take(values[n], column, vector, decoded);
    }
    return sum;
}

/* Move past the `count` indices of the row just read: the next row starts after them. */
TG_PER_WIDTH void tg_skip_indices(tg_filter_t *rows, int32_t count, const int32_t bits)
{
    const uint32_t position = (uint32_t)(rows->index_field + count);
    const uint32_t per_word = TG_WORD_BITS / (uint32_t)bits;
    rows->indices += position / per_word;
    rows->index_field = (int32_t)(position % per_word);
}

/*
 * Read a LUT row of `bits`-bit indices (tg_row_dot_t, for a constant width; `decoded`
 * NULL), or decode it (tg_row_decode_t; `vector` NULL), and advance `rows` past it.
 */
TG_PER_WIDTH int32_t tg_read_lut_row(tg_filter_t *rows, const int8_t *vector, int8_t *decoded, const int32_t bits)
{
    const int32_t sum = tg_lut_walk(rows->indices, rows->index_field, rows->table, vector, decoded, rows->length,
                                    bits);
    tg_skip_indices(rows, rows->length, bits);
    rows->table += rows->table_stride;
    return sum;
}

/* Zero a sparse row's `decoded` values (if decoding) before its entries are stored. */
static inline void tg_clear_row(const tg_filter_t *rows, int8_t *decoded)
{
    if (decoded != NULL) {
        memset(decoded, 0, (size_t)rows->length);
    }
}

/* As tg_read_lut_row for a sparse row of `bits`-bit indices. */
TG_PER_WIDTH int32_t tg_read_sparse_lut_row(tg_filter_t *rows, const int8_t *vector, int8_t *decoded,
                                            const int32_t bits)
{
    const int32_t count = *rows->entries++;
    tg_clear_row(rows, decoded);
    const int32_t sum = tg_sparse_lut_walk(rows->indices, rows->index_field, rows->steps, rows->table, vector,
                                           decoded, count, bits);
    tg_skip_indices(rows, count, bits);
    rows->steps += count;
    rows->table += rows->table_stride;
    return sum;
}

/* The position of the lowest 1 bit of mask (mask != 0): RBIT and CLZ on Cortex-M3 and up. */
static inline int32_t tg_lowest_bit(uint32_t mask)
{
#if defined(__GNUC__)
    return __builtin_ctz(mask);
#else
    int32_t bit = 0;
    for (; (mask & 1u) == 0; mask >>= 1) {
        ++bit;
    }
    return bit;
#endif
}

/* The 1 bits of a word (Cortex-M has no instruction for it: 12 without a call). */
static inline int32_t tg_ones(uint32_t word)
{
    word -= (word >> 1) & 0x55555555u;
    word = (word & 0x33333333u) + ((word >> 2) & 0x33333333u);
    word = (word + (word >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((word * 0x01010101u) >> 24);
}

/* The entries of a bitmap row: the 1 bits of its `length` bits from bit `field` of words[0]. */
static inline int32_t tg_bitmap_entries(const uint32_t *words, int32_t field, int32_t length)
{
    uint32_t mask = *words >> field;
    int32_t span = TG_WORD_BITS - field; /* the row's bits in `mask` if the row goes on */
    int32_t count = 0;
    while (length > span) {
        count += tg_ones(mask);
        length -= span;
        mask = *++words;
        span = TG_WORD_BITS;
    }
    return count + tg_ones(length < TG_WORD_BITS ? mask & ((1u << length) - 1u) : mask);
}

/* Where a walk over a bitmap row stands: the word it reads, the 1 bits of that word not yet
 * read, and the row's column of the word's bit 0 (negative in a row's first word). */
typedef struct {
    const uint32_t *word;
    uint32_t unread;
    int32_t origin;
} tg_bitmap_cursor_t;

/* The column of the next entry: the lowest unread 1 bit, in this word or the next ones. */
static inline int32_t tg_next_entry(tg_bitmap_cursor_t *cursor)
{
    while (cursor->unread == 0) {
        cursor->unread = *++cursor->word;
        cursor->origin += TG_WORD_BITS;
    }
    const int32_t column = cursor->origin + tg_lowest_bit(cursor->unread);
    cursor->unread &= cursor->unread - 1u;
    return column;
}

/* As tg_lut_part for bitmap entries: each is taken at the column of its next 1 bit. */
TG_PER_WIDTH int32_t tg_bitmap_lut_part(uint32_t word, int32_t first, int32_t count, tg_bitmap_cursor_t *cursor,
                                        const int8_t *table, const int8_t *vector, int8_t *decoded, int32_t bits)
{
    int32_t sum = 0;
    word >>= first * bits;
    for (int32_t i = 0; i < count; ++i, word >>= bits) {
        sum += tg_take(tg_lut_value(table, word, 0, bits), tg_next_entry(cursor), vector, decoded);
    }
    return sum;
}

/* As tg_sparse_lut_walk for `count` entries whose columns are the 1 bits of a bitmap. */
TG_PER_WIDTH int32_t tg_bitmap_lut_walk(tg_bitmap_cursor_t *cursor, const uint32_t *words, int32_t field,
                                        const int8_t *table, const int8_t *vector, int8_t *decoded, int32_t count,
                                        const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits;
    int32_t sum = 0;
    if (field != 0) {
        const int32_t head = TG_MIN(per_word - field, count);
        sum += tg_bitmap_lut_part(*words++, field, head, cursor, table, vector, decoded, bits);
        count -= head;
    }
    for (; count >= per_word; count -= per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(32) /* every index of a word: 32 / bits times */
        for (int32_t i = 0; i < per_word; ++i) {
            sum += tg_take(tg_lut_value(table, word, i, bits), tg_next_entry(cursor), vector, decoded);
        }
    }
    if (count > 0) {
        sum += tg_bitmap_lut_part(*words, 0, count, cursor, table, vector, decoded, bits);
    }
    return sum;
}

/*
 * `sum` plus the `block` values (1, or TG_BLOCK_VALUES for block rows) of the entry at
 * `column`: int8 values from *values, or (bits > 0) the LUT indices from index *index of
 * rows->indices on; each taken (see tg_take), *values or *index moved past them. A block of int8 values
 * multiplied on a DSP core is one pair of SMLADs (tg_dot4_s8).
 */
TG_PER_WIDTH int32_t tg_take_entry(int32_t sum, const tg_filter_t *rows, const int8_t **values, int32_t *index,
                                   int32_t column, const int8_t *vector, int8_t *decoded, const int32_t block,
                                   const int32_t bits)
{
    if (bits == 0 && block == TG_BLOCK_VALUES && decoded == NULL) {
        sum = tg_dot4_s8(*values, vector + column, sum);
        *values += block;
        return sum;
    }
    for (int32_t i = 0; i < block; ++i) {
        int32_t value;
        if (bits == 0) {
            value = *(*values)++;
        } else {
            const int32_t per_word = TG_WORD_BITS / bits;
            value = tg_lut_value(rows->table, rows->indices[*index / per_word], *index % per_word, bits);
            ++*index;
        }
        sum += tg_take(value, column + i, vector, decoded);
    }
    return sum;
}

/*
 * Walk the entries of a bitmap row, its `count` bits from bit `field` of words[0] on, each
 * bit standing for `block` values of each of `height` rows (1, or 2 for pair blocks): word
 * by word, each word cut to the row's bits and read lowest 1 bit first (no count needed:
 * 8 instructions an entry of int8 values on a Cortex-M4, against 11 counting first). Adds
 * to sums[row] what tg_take_entry takes of each of its rows' blocks, which moves *values or
 * *index past them (a pair block: the first row's values, then the second's).
 */
TG_PER_WIDTH void tg_bitmap_walk(const tg_filter_t *rows, const uint32_t *words, int32_t field, int32_t count,
                                 const int8_t **values, int32_t *index, const int8_t *vector, int8_t *decoded,
                                 const int32_t block, const int32_t bits, const int32_t height, int32_t sums[2])
{
    uint32_t mask = *words & (~0u << field);
    int32_t origin = -field; /* the entry of the mask's bit 0 */
    for (;;) {
        if (count - origin < TG_WORD_BITS) {
            mask &= (1u << (count - origin)) - 1u;
        }
        for (; mask != 0; mask &= mask - 1u) {
            const int32_t column = (origin + tg_lowest_bit(mask)) * block;
            for (int32_t row = 0; row < height; ++row) {
                sums[row] = tg_take_entry(sums[row], rows, values, index, column, vector, decoded, block, bits);
            }
        }
        origin += TG_WORD_BITS;
        if (origin >= count) {
            return;
        }
        mask = *++words;
    }
}

/* Move past the `count` bits of the row just read in the bitmap: the next row starts after them. */
static inline void tg_skip_bits(tg_filter_t *rows, int32_t count)
{
    const uint32_t end = (uint32_t)(rows->bitmap_field + count);
    rows->bitmap += end / TG_WORD_BITS;
    rows->bitmap_field = (int32_t)(end % TG_WORD_BITS);
}

/*
 * Read a sparse row whose columns are a bitmap (tg_row_dot_t; `decoded` NULL), or decode
 * it (tg_row_decode_t; `vector` NULL), its values int8 (bits 0) or `bits`-bit LUT indices
 * (a constant), and advance `rows` past it. A row of indices has its entries counted
 * first (the 1 bits of its words), so that the walk goes by whole words of indices, as for
 * steps: 9 instructions an entry on a Cortex-M4, against 15 checking for the next word of
 * indices at each entry.
 */
TG_PER_WIDTH int32_t tg_read_bitmap_row(tg_filter_t *rows, const int8_t *vector, int8_t *decoded,
                                        const int32_t bits)
{
    int32_t sum;
    tg_clear_row(rows, decoded);
    if (bits == 0) {
        const int8_t *values = rows->values; /* a local: the walk keeps it in a register */
        int32_t sums[2] = {0, 0};
        tg_bitmap_walk(rows, rows->bitmap, rows->bitmap_field, rows->length, &values, NULL, vector, decoded, 1, 0, 1,
                       sums);
        sum = sums[0];
        rows->values = values;
    } else {
        const int32_t count = tg_bitmap_entries(rows->bitmap, rows->bitmap_field, rows->length);
        tg_bitmap_cursor_t cursor = {rows->bitmap, *rows->bitmap & (~0u << rows->bitmap_field),
                                     -rows->bitmap_field};
        sum = tg_bitmap_lut_walk(&cursor, rows->indices, rows->index_field, rows->table, vector, decoded, count,
                                 bits);
        tg_skip_indices(rows, count, bits);
        rows->table += rows->table_stride;
    }
    tg_skip_bits(rows, rows->length);
    return sum;
}

/*
 * As tg_read_bitmap_row for a block row: bit b of its bitmap (length / TG_BLOCK_VALUES bits)
 * stands for the TG_BLOCK_VALUES values from column b * TG_BLOCK_VALUES on, stored (zeros
 * included) if it is 1. Int8 blocks multiply with one pair of SMLADs on DSP cores, which is
 * what makes a half-empty block row cheaper than a dense one; LUT blocks look up each
 * index (they are decoded into scratch, or read by FULLY_CONNECTED).
 */
TG_PER_WIDTH int32_t tg_read_block_row(tg_filter_t *rows, const int8_t *vector, int8_t *decoded, const int32_t bits)
{
    const int32_t blocks = (int32_t)((uint32_t)rows->length / TG_BLOCK_VALUES);
    const int8_t *values = rows->values;
    int32_t index = rows->index_field;
    int32_t sums[2] = {0, 0};
    tg_clear_row(rows, decoded);
    tg_bitmap_walk(rows, rows->bitmap, rows->bitmap_field, blocks, &values, &index, vector, decoded, TG_BLOCK_VALUES,
                   bits, 1, sums);
    if (bits == 0) {
        rows->values = values;
    } else {
        tg_skip_indices(rows, index - rows->index_field, bits);
        rows->table += rows->table_stride;
    }
    tg_skip_bits(rows, blocks);
    return sums[0];
}

/* As tg_read_lut_row for a sparse row of int8 values. */
static inline int32_t tg_read_sparse_row(tg_filter_t *rows, const int8_t *vector, int8_t *decoded)
{
    const int32_t count = *rows->entries++;
    tg_clear_row(rows, decoded);
    const int32_t sum = tg_sparse_walk(rows->steps, rows->values, vector, decoded, count);
    rows->steps += count;
    rows->values += count;
    return sum;
}

int32_t tg_row_dot_sparse(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_row(rows, vector, NULL);
}

void tg_row_decode_sparse(tg_filter_t *rows, int8_t *values)
{
    (void)tg_read_sparse_row(rows, NULL, values);
}

/*
 * The reader tg_row_dot_<suffix> (tg_row_dot_t) and the decoder tg_row_decode_<suffix>
 * (tg_row_decode_t) of an encoding whose rows `read_row` walks with `bits`-bit indices: the
 * same walk, multiplying or storing (see tg_take).
 */
#define TG_ROW_FUNCTIONS(suffix, read_row, bits)                        \
    int32_t tg_row_dot_##suffix(tg_filter_t *rows, const int8_t *vector) \
    {                                                                   \
        return read_row(rows, vector, NULL, bits);                      \
    }                                                                   \
    void tg_row_decode_##suffix(tg_filter_t *rows, int8_t *values)      \
    {                                                                   \
        (void)read_row(rows, NULL, values, bits);                       \
    }

TG_ROW_FUNCTIONS(lut1, tg_read_lut_row, 1)
TG_ROW_FUNCTIONS(lut2, tg_read_lut_row, 2)
TG_ROW_FUNCTIONS(lut3, tg_read_lut_row, 3)
TG_ROW_FUNCTIONS(lut4, tg_read_lut_row, 4)
TG_ROW_FUNCTIONS(lut5, tg_read_lut_row, 5)
TG_ROW_FUNCTIONS(lut6, tg_read_lut_row, 6)
TG_ROW_FUNCTIONS(sparse_lut1, tg_read_sparse_lut_row, 1)
TG_ROW_FUNCTIONS(sparse_lut2, tg_read_sparse_lut_row, 2)
TG_ROW_FUNCTIONS(sparse_lut3, tg_read_sparse_lut_row, 3)
TG_ROW_FUNCTIONS(sparse_lut4, tg_read_sparse_lut_row, 4)
TG_ROW_FUNCTIONS(sparse_lut5, tg_read_sparse_lut_row, 5)
TG_ROW_FUNCTIONS(sparse_lut6, tg_read_sparse_lut_row, 6)
TG_ROW_FUNCTIONS(sparse_bitmap, tg_read_bitmap_row, 0) /* int8 values: no indices */
TG_ROW_FUNCTIONS(sparse_lut_bitmap1, tg_read_bitmap_row, 1)
TG_ROW_FUNCTIONS(sparse_lut_bitmap2, tg_read_bitmap_row, 2)
TG_ROW_FUNCTIONS(sparse_lut_bitmap3, tg_read_bitmap_row, 3)
TG_ROW_FUNCTIONS(sparse_lut_bitmap4, tg_read_bitmap_row, 4)
TG_ROW_FUNCTIONS(sparse_lut_bitmap5, tg_read_bitmap_row, 5)
TG_ROW_FUNCTIONS(sparse_lut_bitmap6, tg_read_bitmap_row, 6)
TG_ROW_FUNCTIONS(sparse_blocks, tg_read_block_row, 0) /* int8 values: no indices */
TG_ROW_FUNCTIONS(sparse_lut_blocks1, tg_read_block_row, 1)
TG_ROW_FUNCTIONS(sparse_lut_blocks2, tg_read_block_row, 2)
TG_ROW_FUNCTIONS(sparse_lut_blocks3, tg_read_block_row, 3)
TG_ROW_FUNCTIONS(sparse_lut_blocks4, tg_read_block_row, 4)
TG_ROW_FUNCTIONS(sparse_lut_blocks5, tg_read_block_row, 5)
TG_ROW_FUNCTIONS(sparse_lut_blocks6, tg_read_block_row, 6)

/*
 * Pair blocks: rows 2p and 2p + 1 share one bitmap row (length / TG_BLOCK_VALUES bits, in
 * the one stream over all pairs), bit b standing for both rows' values in columns 4b to
 * 4b + 3, stored (row 2p's four, then row 2p + 1's) if it is 1. Their row pair reader
 * (tg_row_pair_dot_t) loads each stored block's input word once for both rows: on a DSP
 * core, 8 multiply-accumulates in about 21 instructions (the dense loop: 16), so empty
 * blocks are saved work. There is no single-row reader: every run of rows is even. Inlined
 * into the CONV_2D kernel's pixel loop (always_inline): called once per pair of rows, a
 * call cost the short rows of a 1x1 CONV_2D 10 % of their instructions.
 */
TG_PER_WIDTH void tg_row_pair_dot_pair_blocks(tg_filter_t *rows, const int8_t *vector, int32_t sums[2])
{
    const int32_t blocks = (int32_t)((uint32_t)rows->length / TG_BLOCK_VALUES);
    const int8_t *values = rows->values;
    int32_t pair_sums[2] = {0, 0}; /* locals, kept in registers: `sums` may alias the vector */
    tg_bitmap_walk(rows, rows->bitmap, rows->bitmap_field, blocks, &values, NULL, vector, NULL, TG_BLOCK_VALUES, 0, 2,
                   pair_sums);
    sums[0] = pair_sums[0];
    sums[1] = pair_sums[1];
    rows->values = values;
    tg_skip_bits(rows, blocks);
}

/*
 * Codebook tables (tinygen/weights.py, codebook_values, has the same words): entry i of
 * row r's table is the int8 value that codebook entry Q = codebook[i] gives with the row's
 * output multiplier: with d = multiplier >> 8 (in [2^22, 2^23)) and n = codebook_shift -
 * shift (0 to 30), N = clamp(Q, -(2^30 >> n), 2^30 >> n) * 2^n (|N| <= 2^30),
 * v = clamp((N >= 0 ? N + d / 2 : N - d / 2) / d, -127, 127), C's division truncating
 * toward zero: N / d rounded half away from zero (clamped to the symmetric int8 range, so
 * that a weight the converter clipped to +-127 is still derived).
 */
void tg_codebook_tables(const tg_filter_t *filter, const tg_conv_requant_t *requant, int32_t rows, int8_t *tables)
{
    for (int32_t row = 0; row < rows; ++row, tables += filter->table_stride) {
        const int32_t channel = requant->per_channel ? row : 0;
        const int32_t divisor = requant->multiplier[channel] >> TG_CODEBOOK_DIVISOR_SHIFT;
        if (divisor == 0) {
            /* A multiplier of 0 makes every output of the row its zero point, whatever its
             * weights: its table is zeros. */
            memset(tables, 0, (size_t)filter->codebook_size);
            continue;
        }
        const int32_t shift = filter->codebook_shift - requant->shift[channel];
        const int32_t limit = TG_CODEBOOK_LIMIT >> shift;
        const int32_t half = divisor / 2;
        for (int32_t i = 0; i < filter->codebook_size; ++i) {
            const int32_t scaled = tg_clamp(filter->codebook[i], -limit, limit) * ((int32_t)1 << shift);
            const int32_t value = (scaled >= 0 ? scaled + half : scaled - half) / divisor;
            tables[i] = (int8_t)tg_clamp(value, -INT8_MAX, INT8_MAX);
        }
    }
}

/*
 * If the tables of `rows` (`count` rows) come from a codebook: derive them at the start of
 * scratch and point rows->table at them. Returns the scratch after them (word-aligned), the
 * kernel's own.
 */
static int8_t *tg_codebook_prepare(tg_filter_t *rows, const tg_conv_requant_t *requant, int32_t count,
                                   int8_t *scratch)
{
    if (rows->codebook == NULL) {
        return scratch;
    }
    tg_codebook_tables(rows, requant, count, scratch);
    rows->table = scratch;
    return scratch + TG_WORD_BYTES(count * rows->table_stride);
}

void tg_conv2d_compressed_s8(const tg_conv2d_params_t *params, tg_row_decode_t decode, int32_t chunk_rows,
                             const int8_t *input, int8_t *output, int8_t *scratch)
{
    const int32_t length = params->filter.length;
    tg_filter_t rows = params->filter;
    scratch = tg_codebook_prepare(&rows, &params->requant, params->output_c, scratch);
    int8_t *patch_buffer = scratch + TG_WORD_BYTES(chunk_rows * length);
    tg_conv2d_params_t decoded = *params;
    decoded.filter = (tg_filter_t){.length = length, .values = scratch};
    for (int32_t first = 0; first < params->output_c; first += chunk_rows) {
        const int32_t count = TG_MIN(chunk_rows, params->output_c - first);
        for (int32_t row = 0; row < count; ++row) {
            decode(&rows, scratch + row * length);
        }
        tg_conv2d_channels_s8(&decoded, first, count, input, output, patch_buffer);
    }
}

void tg_conv2d_pair_blocks_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                              int8_t *patch_buffer)
{
    tg_conv2d_rows(params, 0, params->output_c, NULL, tg_row_pair_dot_pair_blocks, input, output, patch_buffer);
}

void tg_fully_connected_pair_blocks_s8(const tg_fully_connected_params_t *params, const int8_t *input, int8_t *output)
{
    tg_fully_connected_rows(params, NULL, tg_row_pair_dot_pair_blocks, input, output);
}

void tg_depthwise_conv2d_compressed_s8(const tg_depthwise_conv2d_params_t *params, tg_row_decode_t decode,
                                       const int8_t *input, int8_t *output, int32_t *scratch)
{
    const int32_t output_c = params->input_c * params->depth_multiplier;
    const int32_t taps = params->filter.length;
    tg_filter_t rows = params->filter;
    scratch = (int32_t *)(void *)tg_codebook_prepare(&rows, &params->requant, output_c, (int8_t *)scratch);
    int8_t *filter = (int8_t *)(scratch + output_c); /* after the dense kernel's accumulators */
    int8_t *row = filter + taps * output_c;
    for (int32_t channel = 0; channel < output_c; ++channel) {
        decode(&rows, row);
        for (int32_t tap = 0; tap < taps; ++tap) {
            filter[tap * output_c + channel] = row[tap];
        }
    }
    tg_depthwise_conv2d_params_t decoded = *params;
    decoded.filter = (tg_filter_t){.length = taps, .values = filter};
    tg_depthwise_conv2d_s8(&decoded, input, output, scratch);
}

void tg_fully_connected_compressed_s8(const tg_fully_connected_params_t *params, tg_row_dot_t row_dot,
                                      const int8_t *input, int8_t *output, int8_t *scratch)
{
    tg_fully_connected_params_t prepared = *params;
    tg_codebook_prepare(&prepared.filter, &params->requant, params->output_depth, scratch);
    tg_fully_connected_rows(&prepared, row_dot, NULL, input, output);
}

/*
 * FULLY_CONNECTED on LUT rows with one table for the tensor ("pair tables"). The per-value
 * reader above costs about 4.5 instructions a value on a Cortex-M4, the dense SMLAD loop 2.
 * With one table of 2^bits values, every pair of indices (columns c and c + 1 of a row: one
 * 2 * bits-bit field of the index stream, as rows of even length start at even indices and
 * a word holds an even number of indices: 32, 16, 10 or 8) has only 2^(2 * bits) possible
 * weight pairs. The kernel writes them, once per call, into a pair table whose entry
 * (j << bits) | i holds table[i] in its low int16 half and table[j] in its high half, and
 * splits the input row into int16 pairs the same way; a row's dot product then takes one
 * field, one pair-table load, one input load and one SMLAD per two values. The sums equal
 * the per-value reader's modulo 2^32 (SMLAD adds as int32 addition does).
 */

/* sum + the products of the low int16 halves and of the high halves of a and b (SMLAD). */
static inline int32_t tg_smlad(int32_t a, int32_t b, int32_t sum)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return __smlad(a, b, sum);
#else
    return sum + (int16_t)a * (int16_t)b + (int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b >> 16);
#endif
}

/* Two int8 values as the int16 halves of a word: low in bits 0..15, high in bits 16..31. */
static inline int32_t tg_int16_pair(int8_t low, int8_t high)
{
    return (int32_t)(((uint32_t)(uint16_t)high << 16) | (uint16_t)low);
}

/* The pair table of a table of 2^bits values (see above): 2^(2 * bits) words. */
static void tg_pair_table(const int8_t *table, int32_t bits, int32_t *pairs)
{
    const int32_t size = (int32_t)1 << bits;
    for (int32_t high = 0; high < size; ++high) {
        for (int32_t low = 0; low < size; ++low) {
            *pairs++ = tg_int16_pair(table[low], table[high]);
        }
    }
}

/* Values 2p and 2p + 1 of `input` as word p of `pairs`, for the `depth` (even) values. */
static void tg_split_pairs(const int8_t *input, int32_t depth, int32_t *pairs)
{
    for (int32_t p = 0; p < depth / 2; ++p) {
        pairs[p] = tg_int16_pair(input[2 * p], input[2 * p + 1]);
    }
}

/* The pair-table entry of pair k of a word of `bits`-bit indices. */
static inline int32_t tg_pair_entry(const int32_t *pair_table, uint32_t word, int32_t k, int32_t bits)
{
    return pair_table[(word >> (k * 2 * bits)) & ((1u << (2 * bits)) - 1u)];
}

/* sum + pairs first .. first + count - 1 of `word` times input_pairs[0 ..]. */
TG_PER_WIDTH int32_t tg_pairs_part(uint32_t word, int32_t first, int32_t count, const int32_t *pair_table,
                                   const int32_t *input_pairs, int32_t sum, const int32_t bits)
{
    word >>= first * 2 * bits;
    for (int32_t k = 0; k < count; ++k, word >>= 2 * bits) {
        sum = tg_smlad(tg_pair_entry(pair_table, word, 0, bits), input_pairs[k], sum);
    }
    return sum;
}

/*
 * The dot product of the row that `rows` points at with the input pairs, walked as
 * tg_lut_walk walks a row: the rest of a first word, whole words (unrolled), the first
 * pairs of a last word. Advances `rows` past the row.
 */
TG_PER_WIDTH int32_t tg_lut_pairs_row(tg_filter_t *rows, const int32_t *pair_table, const int32_t *input_pairs,
                                      const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits / 2; /* pairs of indices in a word */
    const uint32_t *words = rows->indices;
    int32_t left = rows->length / 2; /* pairs of the row not yet read */
    int32_t sum = 0;
    if (rows->index_field != 0) {
        const int32_t head = TG_MIN(per_word - rows->index_field / 2, left);
        sum = tg_pairs_part(*words++, rows->index_field / 2, head, pair_table, input_pairs, sum, bits);
        input_pairs += head;
        left -= head;
    }
    for (; left >= per_word; left -= per_word, input_pairs += per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(16) /* every pair of a word: 16 / bits times */
        for (int32_t k = 0; k < per_word; ++k) {
            sum = tg_smlad(tg_pair_entry(pair_table, word, k, bits), input_pairs[k], sum);
        }
    }
    if (left > 0) {
        sum = tg_pairs_part(*words, 0, left, pair_table, input_pairs, sum, bits);
    }
    tg_skip_indices(rows, rows->length, bits);
    return sum;
}

/*
 * The dot products of the next two rows with the input pairs into sums[0] and sums[1], for
 * rows of whole words (every row starts at a word): each input pair is loaded once for
 * both. Advances `rows` past both.
 */
TG_PER_WIDTH void tg_lut_pairs_two_rows(tg_filter_t *rows, const int32_t *pair_table, const int32_t *input_pairs,
                                        int32_t sums[2], const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits / 2;
    const int32_t row_words = rows->length / 2 / per_word;
    const uint32_t *words = rows->indices;
    const uint32_t *end = words + row_words;
    int32_t sum0 = 0;
    int32_t sum1 = 0;
    for (; words != end; ++words, input_pairs += per_word) {
        const uint32_t word0 = words[0];
        const uint32_t word1 = words[row_words];
        TG_UNROLL(16) /* every pair of a word: 16 / bits times */
        for (int32_t k = 0; k < per_word; ++k) {
            const int32_t input = input_pairs[k];
            sum0 = tg_smlad(tg_pair_entry(pair_table, word0, k, bits), input, sum0);
            sum1 = tg_smlad(tg_pair_entry(pair_table, word1, k, bits), input, sum1);
        }
    }
    sums[0] = sum0;
    sums[1] = sum1;
    rows->indices += 2 * row_words;
}

/*
 * tg_fully_connected_lut_pairs<bits>_s8 for a constant `bits` (see tg_conv_compressed.h):
 * rows of whole words of indices two at a time (1.05x the dense instructions on the
 * anomaly-detection model, against 1.29x one at a time), a last odd row and rows that start
 * inside words one at a time.
 */
TG_PER_WIDTH void tg_fully_connected_lut_pairs(const tg_fully_connected_params_t *params, const int8_t *input,
                                               int8_t *output, int32_t *scratch, const int32_t bits)
{
    int32_t *pair_table = scratch;
    int32_t *input_pairs = scratch + ((int32_t)1 << (2 * bits));
    const int whole_words = params->filter.length % (TG_WORD_BITS / bits) == 0;
    tg_pair_table(params->filter.table, bits, pair_table);
    for (int32_t batch = 0; batch < params->batches; ++batch) {
        tg_split_pairs(input, params->input_depth, input_pairs);
        tg_filter_t rows = params->filter;
        int32_t row = 0;
        if (whole_words) {
            for (; row + 2 <= params->output_depth; row += 2) {
                int32_t sums[2];
                tg_lut_pairs_two_rows(&rows, pair_table, input_pairs, sums, bits);
                output[row] = tg_conv_output(&params->requant, row, sums[0]);
                output[row + 1] = tg_conv_output(&params->requant, row + 1, sums[1]);
            }
        }
        for (; row < params->output_depth; ++row) {
            const int32_t sum = tg_lut_pairs_row(&rows, pair_table, input_pairs, bits);
            output[row] = tg_conv_output(&params->requant, row, sum);
        }
        input += params->input_depth;
        output += params->output_depth;
    }
}

/* tg_fully_connected_lut_pairs<bits>_s8 (tg_conv_compressed.h), one per index width. */
#define TG_LUT_PAIRS_KERNEL(bits)                                                                       \
    void tg_fully_connected_lut_pairs##bits##_s8(const tg_fully_connected_params_t *params,             \
                                                 const int8_t *input, int8_t *output, int32_t *scratch) \
    {                                                                                                   \
        tg_fully_connected_lut_pairs(params, input, output, scratch, bits);                             \
    }

TG_LUT_PAIRS_KERNEL(1)
TG_LUT_PAIRS_KERNEL(2)
TG_LUT_PAIRS_KERNEL(3)
TG_LUT_PAIRS_KERNEL(4)

/*
 * FULLY_CONNECTED on pair blocks of LUT indices (one table for the tensor): the 8 indices of
 * a stored block (the first row's four, then the second's: four 2 * bits-bit pair fields)
 * lie in one word of the index stream for widths 1, 2 and 4, at bit 8 * bits * (blocks
 * stored before it). With the pair table and input pairs above, a block takes one index
 * load, two input pairs and four pair-table entries for four SMLADs: 8 values in about 20
 * instructions on a Cortex-M4, against 16 for dense values, so a half-empty filter costs
 * less than a dense one and stores about 2.25 bits a value.
 */
TG_PER_WIDTH void tg_sparse_lut_pair_block_rows(tg_filter_t *rows, const int32_t *pair_table,
                                                const int32_t *input_pairs, int32_t *block_index, int32_t sums[2],
                                                const int32_t bits)
{
    const int32_t blocks = (int32_t)((uint32_t)rows->length / TG_BLOCK_VALUES);
    const uint32_t field_mask = (1u << (2 * bits)) - 1u;
    const int32_t count = tg_bitmap_entries(rows->bitmap, rows->bitmap_field, blocks);
    tg_bitmap_cursor_t cursor = {rows->bitmap, *rows->bitmap & (~0u << rows->bitmap_field), -rows->bitmap_field};
    int32_t sum0 = 0;
    int32_t sum1 = 0;
    for (int32_t n = 0; n < count; ++n, ++*block_index) {
        const int32_t *inputs = input_pairs + 2 * tg_next_entry(&cursor); /* the block's two input pairs */
        const uint32_t position = (uint32_t)*block_index * 8u * (uint32_t)bits;
        const uint32_t word = rows->indices[position / TG_WORD_BITS] >> (position % TG_WORD_BITS);
        sum0 = tg_smlad(pair_table[word & field_mask], inputs[0], sum0);
        sum0 = tg_smlad(pair_table[(word >> (2 * bits)) & field_mask], inputs[1], sum0);
        sum1 = tg_smlad(pair_table[(word >> (4 * bits)) & field_mask], inputs[0], sum1);
        sum1 = tg_smlad(pair_table[(word >> (6 * bits)) & field_mask], inputs[1], sum1);
    }
    sums[0] = sum0;
    sums[1] = sum1;
    tg_skip_bits(rows, blocks);
}

/* tg_fully_connected_sparse_lut_pair_blocks<bits>_s8 for a constant `bits` (1, 2 or 4). */
TG_PER_WIDTH void tg_fully_connected_sparse_lut_pair_blocks(const tg_fully_connected_params_t *params,
                                                            const int8_t *input, int8_t *output, int32_t *scratch,
                                                            const int32_t bits)
{
    int32_t *pair_table = scratch;
    int32_t *input_pairs = scratch + ((int32_t)1 << (2 * bits));
    tg_pair_table(params->filter.table, bits, pair_table);
    for (int32_t batch = 0; batch < params->batches; ++batch) {
        tg_split_pairs(input, params->input_depth, input_pairs);
        tg_filter_t rows = params->filter;
        int32_t block_index = 0;
        for (int32_t row = 0; row < params->output_depth; row += 2) {
            int32_t sums[2];
            tg_sparse_lut_pair_block_rows(&rows, pair_table, input_pairs, &block_index, sums, bits);
            output[row] = tg_conv_output(&params->requant, row, sums[0]);
            output[row + 1] = tg_conv_output(&params->requant, row + 1, sums[1]);
        }
        input += params->input_depth;
        output += params->output_depth;
    }
}

#define TG_SPARSE_LUT_PAIR_BLOCKS_KERNEL(bits)                                                             \
    void tg_fully_connected_sparse_lut_pair_blocks##bits##_s8(const tg_fully_connected_params_t *params,   \
                                                              const int8_t *input, int8_t *output,          \
                                                              int32_t *scratch)                             \
    {                                                                                                      \
        tg_fully_connected_sparse_lut_pair_blocks(params, input, output, scratch, bits);                   \
    }

TG_SPARSE_LUT_PAIR_BLOCKS_KERNEL(1)
TG_SPARSE_LUT_PAIR_BLOCKS_KERNEL(2)
TG_SPARSE_LUT_PAIR_BLOCKS_KERNEL(4)
