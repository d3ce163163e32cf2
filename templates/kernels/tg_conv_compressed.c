/*
 * tinygen kernels: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on compressed filters
 * (see tg_conv_compressed.h and tg_filter_t in tg_conv.h).
 *
 * CONV_2D and FULLY_CONNECTED are tg_conv.h's loop nests with the row reader below.
 * DEPTHWISE_CONV_2D gathers each output pixel's window channel by channel, so that every
 * output channel's taps meet one contiguous row of the patch, and reads the filter rows
 * the same way.
 *
 * The row readers decode on the fly, without a buffer. LUT rows: one 32-bit word of
 * indices at a time, its fields extracted at constant positions (a loop unrolled for each
 * index width: one reader per width); a row that starts or ends inside a word reads those
 * indices one at a time. Sparse rows: each entry advances the input pointer by its step
 * and multiplies one value, so that zeros cost no multiply-accumulate. The generated code
 * passes the reader its filter needs to the kernel, so a firmware linked with
 * --gc-sections keeps only the readers its model uses.
 */
#include "tg_conv_compressed.h"

#define TG_WORD_BITS 32

/*
 * TG_UNROLL(n): unroll the next loop n times. TG_PER_WIDTH: a function taking the index
 * width `bits`, inlined into each reader so that `bits` is a constant in its loops.
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

/* Indices first .. first + count - 1 of `word` (table entries) times vector[0 .. count). */
static inline int32_t tg_lut_part(uint32_t word, int32_t first, int32_t count, const int8_t *table,
                                  const int8_t *vector, int32_t bits)
{
    int32_t sum = 0;
    word >>= first * bits;
    for (int32_t i = 0; i < count; ++i, word >>= bits) {
        sum += tg_lut_value(table, word, 0, bits) * vector[i];
    }
    return sum;
}

/*
 * The dot product of vector[0 .. length) with a LUT row whose indices start at index
 * `field` of words[0]: the rest of that word, then whole words (the loop unrolled), then
 * the first indices of the last word.
 */
TG_PER_WIDTH int32_t tg_lut_dot(const uint32_t *words, int32_t field, const int8_t *table, const int8_t *vector,
                                int32_t length, const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits;
    int32_t sum = 0;
    if (field != 0) {
        const int32_t head = TG_MIN(per_word - field, length);
        sum += tg_lut_part(*words++, field, head, table, vector, bits);
        vector += head;
        length -= head;
    }
    for (; length >= per_word; length -= per_word, vector += per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(32) /* every index of a word: 32 / bits times */
        for (int32_t i = 0; i < per_word; ++i) {
            sum += tg_lut_value(table, word, i, bits) * vector[i];
        }
    }
    if (length > 0) {
        sum += tg_lut_part(*words, 0, length, table, vector, bits);
    }
    return sum;
}

/* As tg_lut_part for sparse entries: each moves *vector by its step, then multiplies. */
static inline int32_t tg_sparse_lut_part(uint32_t word, int32_t first, int32_t count, const uint8_t *steps,
                                         const int8_t *table, const int8_t **vector, int32_t bits)
{
    int32_t sum = 0;
    word >>= first * bits;
    for (int32_t i = 0; i < count; ++i, word >>= bits) {
        *vector += steps[i];
        sum += tg_lut_value(table, word, 0, bits) * **vector;
    }
    return sum;
}

/* As tg_lut_dot for `count` sparse entries whose values are LUT indices. */
TG_PER_WIDTH int32_t tg_sparse_lut_dot(const uint32_t *words, int32_t field, const uint8_t *steps,
                                       const int8_t *table, const int8_t *vector, int32_t count, const int32_t bits)
{
    const int32_t per_word = TG_WORD_BITS / bits;
    int32_t sum = 0;
    if (field != 0) {
        const int32_t head = TG_MIN(per_word - field, count);
        sum += tg_sparse_lut_part(*words++, field, head, steps, table, &vector, bits);
        steps += head;
        count -= head;
    }
    for (; count >= per_word; count -= per_word, steps += per_word) {
        const uint32_t word = *words++;
        TG_UNROLL(32) /* every index of a word: 32 / bits times */
        for (int32_t i = 0; i < per_word; ++i) {
            vector += steps[i];
            sum += tg_lut_value(table, word, i, bits) * *vector;
        }
    }
    if (count > 0) {
        sum += tg_sparse_lut_part(*words, 0, count, steps, table, &vector, bits);
    }
    return sum;
}

/* The dot product of `vector` with `count` sparse entries of int8 values. */
static inline int32_t tg_sparse_dot(const uint8_t *steps, const int8_t *values, const int8_t *vector,
                                    int32_t count)
{
    int32_t sum = 0;
    TG_UNROLL(4)
    for (int32_t n = 0; n < count; ++n) {
        vector += steps[n];
        sum += values[n] * *vector;
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

/* Read a LUT row of `bits`-bit indices (tg_row_dot_t, for a constant width). */
TG_PER_WIDTH int32_t tg_read_lut_row(tg_filter_t *rows, const int8_t *vector, const int32_t bits)
{
    const int32_t sum = tg_lut_dot(rows->indices, rows->index_field, rows->table, vector, rows->length, bits);
    tg_skip_indices(rows, rows->length, bits);
    rows->table += rows->table_stride;
    return sum;
}

/* Read a sparse row of `bits`-bit indices (tg_row_dot_t, for a constant width). */
TG_PER_WIDTH int32_t tg_read_sparse_lut_row(tg_filter_t *rows, const int8_t *vector, const int32_t bits)
{
    const int32_t count = *rows->entries++;
    const int32_t sum = tg_sparse_lut_dot(rows->indices, rows->index_field, rows->steps, rows->table, vector, count,
                                          bits);
    tg_skip_indices(rows, count, bits);
    rows->steps += count;
    rows->table += rows->table_stride;
    return sum;
}

int32_t tg_row_dot_sparse(tg_filter_t *rows, const int8_t *vector)
{
    const int32_t count = *rows->entries++;
    const int32_t sum = tg_sparse_dot(rows->steps, rows->values, vector, count);
    rows->steps += count;
    rows->values += count;
    return sum;
}

int32_t tg_row_dot_lut1(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 1);
}

int32_t tg_row_dot_lut2(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 2);
}

int32_t tg_row_dot_lut3(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 3);
}

int32_t tg_row_dot_lut4(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 4);
}

int32_t tg_row_dot_lut5(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 5);
}

int32_t tg_row_dot_lut6(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_lut_row(rows, vector, 6);
}

int32_t tg_row_dot_sparse_lut1(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 1);
}

int32_t tg_row_dot_sparse_lut2(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 2);
}

int32_t tg_row_dot_sparse_lut3(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 3);
}

int32_t tg_row_dot_sparse_lut4(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 4);
}

int32_t tg_row_dot_sparse_lut5(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 5);
}

int32_t tg_row_dot_sparse_lut6(tg_filter_t *rows, const int8_t *vector)
{
    return tg_read_sparse_lut_row(rows, vector, 6);
}

void tg_conv2d_compressed_s8(const tg_conv2d_params_t *params, tg_row_dot_t row_dot, const int8_t *input,
                             int8_t *output, int8_t *patch_buffer)
{
    tg_conv2d_rows(params, row_dot, NULL, input, output, patch_buffer);
}

/*
 * Copy the window at input row in_y, column in_x into patch as [input_c, taps]: the
 * filter_h * filter_w taps of each channel together. Taps outside the image read the
 * input zero point.
 */
static void tg_gather_channel_taps(const tg_conv_window_t *window, const int8_t *image, int32_t input_c,
                                   int32_t in_y, int32_t in_x, int8_t *patch)
{
    const int32_t taps = window->filter_h * window->filter_w;
    int32_t tap = 0;
    for (int32_t filter_y = 0; filter_y < window->filter_h; ++filter_y) {
        const int32_t y = in_y + filter_y * window->dilation_h;
        for (int32_t filter_x = 0; filter_x < window->filter_w; ++filter_x, ++tap) {
            const int32_t x = in_x + filter_x * window->dilation_w;
            const int8_t *pixel = tg_window_pixel(window, image, input_c, y, x);
            int8_t *slot = patch + tap;
            if (pixel != NULL) {
                for (int32_t c = 0; c < input_c; ++c, slot += taps) {
                    *slot = pixel[c];
                }
            } else {
                for (int32_t c = 0; c < input_c; ++c, slot += taps) {
                    *slot = (int8_t)window->input_zero_point;
                }
            }
        }
    }
}

void tg_depthwise_conv2d_compressed_s8(const tg_depthwise_conv2d_params_t *params, tg_row_dot_t row_dot,
                                       const int8_t *input, int8_t *output, int8_t *patch_buffer)
{
    const tg_conv_window_t *window = &params->window;
    const int32_t output_c = params->input_c * params->depth_multiplier;
    const int32_t taps = window->filter_h * window->filter_w;
    const int32_t image_size = window->input_h * window->input_w * params->input_c;

    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *image = input + batch * image_size;
        for (int32_t out_y = 0; out_y < window->output_h; ++out_y) {
            const int32_t in_y = out_y * window->stride_h - window->pad_top;
            for (int32_t out_x = 0; out_x < window->output_w; ++out_x) {
                const int32_t in_x = out_x * window->stride_w - window->pad_left;
                tg_filter_t rows = params->filter;
                tg_gather_channel_taps(window, image, params->input_c, in_y, in_x, patch_buffer);
                for (int32_t c = 0; c < output_c; ++c) {
                    const int8_t *channel_taps = patch_buffer + (c / params->depth_multiplier) * taps;
                    output[c] = tg_conv_output(&params->requant, c, row_dot(&rows, channel_taps));
                }
                output += output_c;
            }
        }
    }
}

void tg_fully_connected_compressed_s8(const tg_fully_connected_params_t *params, tg_row_dot_t row_dot,
                                      const int8_t *input, int8_t *output)
{
    tg_fully_connected_rows(params, row_dot, NULL, input, output);
}
