/* tinygen kernels: pooling and mean reduction of int8 tensors (see tg_pool.h). */
#include "tg_pool.h"

#include "tg_common.h"

/*
 * Reduces one window, clipped to the input, to one output pixel of every channel.
 * window: the window's first in-bounds value of channel 0; rows x columns values of
 * each channel, rows params->input_width * params->channels apart.
 */
typedef void (*tg_pool_window_fn)(const tg_pool_params_t *params, const int8_t *window,
                                  int32_t rows, int32_t columns, int8_t *output);

/* Walks the output pixels, clipping each window to the input, and reduces each one. */
static void tg_pool_s8(const tg_pool_params_t *params, const int8_t *input, int8_t *output,
                       tg_pool_window_fn reduce_window)
{
    const int32_t row_stride = params->input_width * params->channels;
    const int32_t image_size = params->input_height * row_stride;
    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *image = input + batch * image_size;
        for (int32_t out_y = 0; out_y < params->output_height; ++out_y) {
            const int32_t origin_y = out_y * params->stride_height - params->pad_top;
            const int32_t y_start = TG_MAX(0, origin_y);
            const int32_t y_end = TG_MIN(origin_y + params->filter_height, params->input_height);
            for (int32_t out_x = 0; out_x < params->output_width; ++out_x) {
                const int32_t origin_x = out_x * params->stride_width - params->pad_left;
                const int32_t x_start = TG_MAX(0, origin_x);
                const int32_t x_end = TG_MIN(origin_x + params->filter_width, params->input_width);
                const int8_t *window = image + y_start * row_stride + x_start * params->channels;
                reduce_window(params, window, y_end - y_start, x_end - x_start, output);
                output += params->channels;
            }
        }
    }
}

static void tg_avgpool_window(const tg_pool_params_t *params, const int8_t *window,
                              int32_t rows, int32_t columns, int8_t *output)
{
    const int32_t row_stride = params->input_width * params->channels;
    const int32_t count = rows * columns;
    for (int32_t channel = 0; channel < params->channels; ++channel) {
        int32_t sum = 0;
        for (int32_t y = 0; y < rows; ++y) {
            const int8_t *row = window + y * row_stride + channel;
            for (int32_t x = 0; x < columns; ++x) {
                sum += row[x * params->channels];
            }
        }
        /* Integer division truncates: offset by half the count away from zero first. */
        const int32_t average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        output[channel] = (int8_t)tg_clamp(average, params->activation_min, params->activation_max);
    }
}

static void tg_maxpool_window(const tg_pool_params_t *params, const int8_t *window,
                              int32_t rows, int32_t columns, int8_t *output)
{
    const int32_t row_stride = params->input_width * params->channels;
    for (int32_t channel = 0; channel < params->channels; ++channel) {
        int32_t maximum = INT8_MIN;
        for (int32_t y = 0; y < rows; ++y) {
            const int8_t *row = window + y * row_stride + channel;
            for (int32_t x = 0; x < columns; ++x) {
                maximum = TG_MAX(maximum, (int32_t)row[x * params->channels]);
            }
        }
        output[channel] = (int8_t)tg_clamp(maximum, params->activation_min, params->activation_max);
    }
}

void tg_avgpool_s8(const tg_pool_params_t *params, const int8_t *input, int8_t *output)
{
    tg_pool_s8(params, input, output, tg_avgpool_window);
}

void tg_maxpool_s8(const tg_pool_params_t *params, const int8_t *input, int8_t *output)
{
    tg_pool_s8(params, input, output, tg_maxpool_window);
}

void tg_mean_s8(const tg_mean_params_t *params, const int8_t *input, int8_t *output)
{
    const int32_t block_size = params->reduced_count * params->inner_count;
    for (int32_t outer = 0; outer < params->outer_count; ++outer) {
        const int8_t *block = input + outer * block_size;
        for (int32_t inner = 0; inner < params->inner_count; ++inner) {
            int32_t sum = params->input_offset;
            for (int32_t reduced = 0; reduced < params->reduced_count; ++reduced) {
                sum += block[reduced * params->inner_count + inner];
            }
            const int32_t mean = tg_requantize(sum, params->multiplier, params->shift) + params->output_zero_point;
            *output++ = (int8_t)tg_clamp(mean, INT8_MIN, INT8_MAX);
        }
    }
}
