/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on compressed
 * filters: lookup tables of clustered values (LUT), sparse rows, and sparse rows of LUT
 * indices (tg_filter_t in tg_conv.h describes the encodings). They take the same params
 * structs as the dense kernels of tg_conv.h, plus the reader of the filter's encoding,
 * and give the same outputs, byte for byte: only the way a filter row is read differs.
 * Link with --gc-sections (and compile with -ffunction-sections) to keep only the readers
 * the model calls.
 */
#ifndef TG_CONV_COMPRESSED_H
#define TG_CONV_COMPRESSED_H

#include "tg_conv.h"

/*
 * The row readers (tg_row_dot_t) of the compressed encodings: sparse rows of int8 values,
 * LUT rows and sparse LUT rows of 1- to 6-bit indices. A kernel call names the one its
 * filter needs.
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

/* As tg_conv2d_s8, each filter row read by row_dot; the same patch_buffer. */
void tg_conv2d_compressed_s8(const tg_conv2d_params_t *params, tg_row_dot_t row_dot, const int8_t *input,
                             int8_t *output, int8_t *patch_buffer);

/*
 * As tg_depthwise_conv2d_s8, the filter as rows of filter_h * filter_w taps, one per
 * output channel, read by row_dot. patch_buffer: input_c * filter_h * filter_w bytes of
 * scratch, where the kernel gathers the window of one output pixel as
 * [input_c, filter_h * filter_w].
 */
void tg_depthwise_conv2d_compressed_s8(const tg_depthwise_conv2d_params_t *params, tg_row_dot_t row_dot,
                                       const int8_t *input, int8_t *output, int8_t *patch_buffer);

/* As tg_fully_connected_s8, each filter row read by row_dot. */
void tg_fully_connected_compressed_s8(const tg_fully_connected_params_t *params, tg_row_dot_t row_dot,
                                      const int8_t *input, int8_t *output);

#endif /* TG_CONV_COMPRESSED_H */
