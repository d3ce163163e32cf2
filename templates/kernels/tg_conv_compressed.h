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
 * _bitmap readers) with a bitmap of their columns, or (the _blocks readers) a bitmap of
 * their blocks of TG_BLOCK_VALUES consecutive values. A kernel call names the one its
 * filter needs.
 */
#define TG_BLOCK_VALUES 4 /* the values a bit of a block row's bitmap stands for */

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
int32_t tg_row_dot_sparse_blocks(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks1(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks2(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks3(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks4(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks5(tg_filter_t *rows, const int8_t *vector);
int32_t tg_row_dot_sparse_lut_blocks6(tg_filter_t *rows, const int8_t *vector);

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
void tg_row_decode_sparse_blocks(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks1(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks2(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks3(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks4(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks5(tg_filter_t *rows, int8_t *values);
void tg_row_decode_sparse_lut_blocks6(tg_filter_t *rows, int8_t *values);

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
 * As tg_conv2d_s8 and tg_fully_connected_s8 on a filter of pair blocks (tg_filter_t):
 * sparse rows pruned in blocks of 2 rows by TG_BLOCK_VALUES columns, int8 values, read two
 * rows at a time at every pixel (no decoding: a stored block costs about as much as dense
 * values, and an empty one nothing). Every group of a CONV_2D has an even number of output
 * channels, and a FULLY_CONNECTED an even output depth (tinygen offers pair blocks for no
 * other). patch_buffer: as tg_conv2d_s8's.
 */
void tg_conv2d_pair_blocks_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                              int8_t *patch_buffer);
void tg_fully_connected_pair_blocks_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                       int8_t *output);

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

/*
 * FULLY_CONNECTED on a LUT filter of 1- to 4-bit indices (one kernel per width) with one
 * stored table for the tensor (table_stride 0, no codebook) and rows of even length: two
 * values per SMLAD through a table of weight pairs (tg_conv_compressed.c explains it), two
 * rows at a time where rows are whole words of indices. Outputs as tg_fully_connected_s8.
 * scratch (4-byte aligned), TG_LUT_PAIRS_SCRATCH_BYTES: the pair table, 2^(2 * bits)
 * words, then one input row as input_depth / 2 words of int16 pairs.
 */
#define TG_LUT_PAIRS_SCRATCH_BYTES(bits, input_depth) (4 * (1 << (2 * (bits))) + 2 * (input_depth))

void tg_fully_connected_lut_pairs1_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                      int8_t *output, int32_t *scratch);
void tg_fully_connected_lut_pairs2_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                      int8_t *output, int32_t *scratch);
void tg_fully_connected_lut_pairs3_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                      int8_t *output, int32_t *scratch);
void tg_fully_connected_lut_pairs4_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                      int8_t *output, int32_t *scratch);

/*
 * FULLY_CONNECTED on pair blocks (see tg_conv2d_pair_blocks_s8) of 1-, 2- or 4-bit LUT
 * indices with one stored table for the tensor, an even output depth: the 8 indices of a
 * stored block are one 8 * bits-bit field of the index stream, read through the pair table
 * of tg_fully_connected_lut_pairs<bits>_s8, with the same scratch
 * (TG_LUT_PAIRS_SCRATCH_BYTES). Outputs as tg_fully_connected_s8.
 */
void tg_fully_connected_sparse_lut_pair_blocks1_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                                   int8_t *output, int32_t *scratch);
void tg_fully_connected_sparse_lut_pair_blocks2_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                                   int8_t *output, int32_t *scratch);
void tg_fully_connected_sparse_lut_pair_blocks4_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                                                   int8_t *output, int32_t *scratch);

#endif /* TG_CONV_COMPRESSED_H */
