/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on compressed
 * filters: lookup tables of clustered values (LUT), sparse rows, and sparse rows of LUT
 * indices (tg_filter_t in tg_conv.h describes the encodings). They take the same params
 * structs as the dense kernels of tg_conv.h, plus the row reader (FULLY_CONNECTED) or row
 * decoder (CONV_2D, DEPTHWISE_CONV_2D) of the filter's encoding, and give the same outputs,
 * byte for byte: only the way a filter row is read differs. Link with --gc-sections (and
 * compile with -ffunction-sections) to keep only the readers and decoders the model calls.
 */
#ifndef TG_CONV_COMPRESSED_H
#define TG_CONV_COMPRESSED_H

#include "tg_conv.h"

/*
 * The row readers (tg_row_dot_t) of the compressed encodings: sparse rows of int8 values,
 * LUT rows and sparse LUT rows of 1- to 6-bit indices, the sparse ones with steps or (the
 * _bitmap readers) with a bitmap of their columns. A kernel call names the one its filter
 * needs.
 */
int32_t tg_row_dot_sparse(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut1(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut2(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut3(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut4(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut5(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_lut6(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut1(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut2(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut3(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut4(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut5(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut6(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_bitmap(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap1(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap2(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap3(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap4(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap5(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_bitmap6(tg_filter_t *rows, const int8_t *vector);

/*
 * The row decoders (tg_row_decode_t) of the same encodings, for the CONV_2D and
 * DEPTHWISE_CONV_2D kernels below.
 */
void tg_row_decode_sparse(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut1(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut2(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut3(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut4(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut5(tg_filter_t *rows, int8_t *values);
void tg_row_decode_lut6(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut1(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut2(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut3(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut4(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut5(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut6(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_bitmap(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap1(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap2(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap3(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap4(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap5(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_bitmap6(tg_filter_t *rows, int8_t *values);

/* `size` bytes rounded up to whole words: the scratch the compressed kernels take for derived
 * tables and decoded rows, so that what follows them stays word-aligned. */
#define TG_WORD_BYTES(size) (((size) + 3) & ~3)

/*
 * Codebook tables: a filter whose `codebook` is not NULL stores no tables; each compressed
 * kernel first derives them, 1 << bits entries per row (codebook_size used), at the start
 * of its scratch with tg_codebook_tables, and runs on them. Its scratch is then
 * TG_WORD_BYTES(output channels * table_stride) bytes of tables, followed by
 * the scratch each kernel describes below. Entry i of row r's table is what codebook[i]
 * gives with row r's output multiplier (the formula is in tg_conv_compressed.c and
 * tinygen/weights.py): the same int8 values the model's filter holds.
 */
#define TG_CODEBOOK_LIMIT (1 << 30)      /* |codebook entry * 2^n| is clamped to this */
#define TG_CODEBOOK_DIVISOR_SHIFT 8      /* d = multiplier >> 8 */

void tg_codebook_tables(const tg_filter_t *filter, const tg_conv_requant_t *requant, int32_t rows, int8_t *tables);

/*
 * As tg_conv2d_s8 (the same outputs, written in the same order if chunk_rows >= output_c):
 * decodes the filter with `decode`, chunk_rows rows at a time (even, unless it is
 * output_c), into the scratch and runs tg_conv2d_channels_s8 on each chunk, for every
 * pixel. scratch: TG_WORD_BYTES(chunk_rows * filter length) bytes for the decoded
 * rows, then tg_conv2d_s8's patch_buffer (none for a 1x1 filter).
 */
void tg_conv2d_compressed_s8(const tg_conv2d_params_t *params, tg_row_decode_t decode, int32_t chunk_rows,
                             const int8_t *input, int8_t *output, int8_t *scratch);

/*
 * As tg_depthwise_conv2d_s8, the filter as rows of filter_h * filter_w taps, one per
 * output channel, decoded by `decode` into the dense [taps, channels] layout, then the
 * dense kernel. scratch (4-byte aligned): the dense kernel's output_c int32 accumulators,
 * then taps * output_c bytes of decoded filter, then taps bytes for one decoded row.
 */
void tg_depthwise_conv2d_compressed_s8(const tg_depthwise_conv2d_params_t *params, tg_row_decode_t decode,
                                       const int8_t *input, int8_t *output, int32_t *scratch);

/* As tg_fully_connected_s8, each filter row read by row_dot (no reuse to decode for).
 * scratch: the codebook tables, if any (NULL otherwise). */
void tg_fully_connected_compressed_s8(const tg_fully_connected_params_t *params, tg_row_dot_t row_dot,
                                      const int8_t *input, int8_t *output, int8_t *scratch);

#endif /* TG_CONV_COMPRESSED_H */
