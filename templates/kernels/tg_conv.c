/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on dense filters
 * (see tg_conv.h).
 *
 * CONV_2D gathers the input patch of each output pixel into one contiguous row (1x1
 * filters use the input pixel itself), then takes its dot product with each output
 * channel's filter row; FULLY_CONNECTED is the same dot product on input rows. Both are
 * the loop nests of tg_conv.h with a dense row reader. DEPTHWISE_CONV_2D walks the
 * filter taps once per output pixel and updates every channel's accumulator for each
 * tap, so the channel loop is innermost and contiguous.
 */
#include "tg_conv.h"

#include <string.h>

/* The sum of a[i] * b[i] for i < length. */
static int32_t tg_dot_s8(const int8_t *a, const int8_t *b, int32_t length)
{
    int32_t sum = 0;
    int32_t i = 0;
    for (; i + 4 <= length; i += 4) {
        sum += a[i] * b[i] + a[i + 1] * b[i + 1] + a[i + 2] * b[i + 2] + a[i + 3] * b[i + 3];
    }
    for (; i < length; ++i) {
        sum += a[i] * b[i];
    }
    return sum;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/*
 * Cortex-M cores with the DSP extension (M4, M7, M33, M55). GCC does not turn the loop
 * above into SIMD instructions (5 instructions per multiply-accumulate), so the dense
 * kernels take the dot products of two filter rows at a time with the same input vector,
 * four values at a time, with SMLAD (see tg_conv.h): filter and input words are split the
 * same way, so each product pairs a[i] with b[i]; the input vector's words are loaded and
 * split once for both rows. The outputs stay bit-exact.
 * Elsewhere (the host, Cortex-M0+/M3) TG_DENSE_ROW_PAIR_DOT is NULL and the loop nests
 * read one row at a time with tg_dot_s8.
 */
/* Row a0 and row a1 (each `length` values) times vector b, into sums[0] and sums[1]. */
static void tg_dot2_s8(const int8_t *a0, const int8_t *a1, const int8_t *b, int32_t length, int32_t sums[2])
{
    int32_t sum0 = 0;
    int32_t sum1 = 0;
    int32_t i = 0;
    for (; i + 4 <= length; i += 4) {
        const int32_t input = tg_load_s8x4(b + i);
        const int32_t input_even = __sxtb16(input);
        const int32_t input_odd = tg_sxtb16_odd(input);
        const int32_t row0 = tg_load_s8x4(a0 + i);
        const int32_t row1 = tg_load_s8x4(a1 + i);
        sum0 = __smlad(__sxtb16(row0), input_even, sum0);
        sum0 = __smlad(tg_sxtb16_odd(row0), input_odd, sum0);
        sum1 = __smlad(__sxtb16(row1), input_even, sum1);
        sum1 = __smlad(tg_sxtb16_odd(row1), input_odd, sum1);
    }
    for (; i < length; ++i) {
        sum0 += a0[i] * b[i];
        sum1 += a1[i] * b[i];
    }
    sums[0] = sum0;
    sums[1] = sum1;
}

/* tg_row_pair_dot_t of a dense filter: its rows are consecutive. */
static void tg_dense_row_pair_dot(tg_filter_t *rows, const int8_t *vector, int32_t sums[2])
{
    tg_dot2_s8(rows->values, rows->values + rows->length, vector, rows->length, sums);
    rows->values += 2 * rows->length;
}
#define TG_DENSE_ROW_PAIR_DOT tg_dense_row_pair_dot
#else
#define TG_DENSE_ROW_PAIR_DOT NULL
#endif

/* tg_row_dot_t of a dense filter. */
static int32_t tg_dense_row_dot(tg_filter_t *rows, const int8_t *vector)
{
    const int32_t sum = tg_dot_s8(rows->values, vector, rows->length);
    rows->values += rows->length;
    return sum;
}

void tg_conv_gather_patch(const tg_conv_window_t *window, const int8_t *image, int32_t image_c,
                          int32_t patch_c, int32_t in_y, int32_t in_x, int8_t *patch)
{
    for (int32_t filter_y = 0; filter_y < window->filter_h; ++filter_y) {
        const int32_t y = in_y + filter_y * window->dilation_h;
        for (int32_t filter_x = 0; filter_x < window->filter_w; ++filter_x) {
            const int32_t x = in_x + filter_x * window->dilation_w;
            const int8_t *pixel = tg_window_pixel(window, image, image_c, y, x);
            if (pixel != NULL) {
                memcpy(patch, pixel, (size_t)patch_c);
            } else {
                memset(patch, (int)window->input_zero_point, (size_t)patch_c);
            }
            patch += patch_c;
        }
    }
}

void tg_conv2d_channels_s8(const tg_conv2d_params_t *params, int32_t first, int32_t count, const int8_t *input,
                           int8_t *output, int8_t *patch_buffer)
{
    tg_conv2d_rows(params, first, count, tg_dense_row_dot, TG_DENSE_ROW_PAIR_DOT, input, output, patch_buffer);
}

void tg_conv2d_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                  int8_t *patch_buffer)
{
    tg_conv2d_channels_s8(params, 0, params->output_c, input, output, patch_buffer);
}

/* accumulators[c] += taps[c] * pixel[c / depth_multiplier] for every output channel c. */
static void tg_depthwise_accumulate(const int8_t *taps, const int8_t *pixel, int32_t input_c,
                                    int32_t depth_multiplier, int32_t *accumulators)
{
    if (depth_multiplier == 1) {
        for (int32_t c = 0; c < input_c; ++c) {
            accumulators[c] += taps[c] * pixel[c];
        }
        return;
    }
    for (int32_t in_c = 0; in_c < input_c; ++in_c) {
        const int32_t value = pixel[in_c];
        for (int32_t m = 0; m < depth_multiplier; ++m) {
            *accumulators++ += *taps++ * value;
        }
    }
}

void tg_depthwise_conv2d_s8(const tg_depthwise_conv2d_params_t *params, const int8_t *input,
                            int8_t *output, int32_t *accumulators)
{
    const tg_conv_window_t *window = &params->window;
    const int32_t output_c = params->input_c * params->depth_multiplier;
    const int32_t image_size = window->input_h * window->input_w * params->input_c;
    const int32_t padding_value = window->input_zero_point;

    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *image = input + batch * image_size;
        for (int32_t out_y = 0; out_y < window->output_h; ++out_y) {
            const int32_t in_y = out_y * window->stride_h - window->pad_top;
            for (int32_t out_x = 0; out_x < window->output_w; ++out_x) {
                const int32_t in_x = out_x * window->stride_w - window->pad_left;
                const int8_t *taps = params->filter.values;
                memset(accumulators, 0, (size_t)output_c * sizeof(int32_t));
                for (int32_t filter_y = 0; filter_y < window->filter_h; ++filter_y) {
                    const int32_t y = in_y + filter_y * window->dilation_h;
                    for (int32_t filter_x = 0; filter_x < window->filter_w; ++filter_x) {
                        const int32_t x = in_x + filter_x * window->dilation_w;
                        const int8_t *pixel = tg_window_pixel(window, image, params->input_c, y, x);
                        if (pixel != NULL) {
                            tg_depthwise_accumulate(taps, pixel, params->input_c, params->depth_multiplier,
                                                    accumulators);
                        } else if (padding_value != 0) {
                            for (int32_t c = 0; c < output_c; ++c) {
                                accumulators[c] += taps[c] * padding_value;
                            }
                        }
                        taps += output_c;
                    }
                }
                for (int32_t c = 0; c < output_c; ++c) {
                    output[c] = tg_conv_output(&params->requant, c, accumulators[c]);
                }
                output += output_c;
            }
        }
    }
}

void tg_fully_connected_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                           int8_t *output)
{
    tg_fully_connected_rows(params, tg_dense_row_dot, TG_DENSE_ROW_PAIR_DOT, input, output);
}
