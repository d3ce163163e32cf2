/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (see tg_conv.h).
 *
 * CONV_2D gathers the input patch of each output pixel into one contiguous row (1x1
 * filters use the input pixel itself), then takes its dot product with each output
 * channel's filter row; FULLY_CONNECTED is the same dot product on input rows.
 * DEPTHWISE_CONV_2D walks the filter taps once per output pixel and updates every
 * channel's accumulator for each tap, so the channel loop is innermost and contiguous.
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

/* The int8 output of channel `channel` from its accumulated products (bias not yet added). */
static inline int8_t tg_conv_output(const tg_conv_requant_t *requant, int32_t channel, int32_t sum)
{
    const int32_t index = requant->per_channel ? channel : 0;
    const int32_t scaled = tg_requantize(requant->bias[channel] + sum, requant->multiplier[index],
                                         requant->shift[index]);
    return (int8_t)tg_clamp(scaled + requant->output_zero_point, requant->activation_min,
                            requant->activation_max);
}

/* Pixel (y, x) of an [H, W, channels] image, or NULL if it lies outside the image. */
static inline const int8_t *tg_window_pixel(const tg_conv_window_t *window, const int8_t *image,
                                            int32_t channels, int32_t y, int32_t x)
{
    if (y < 0 || y >= window->input_h || x < 0 || x >= window->input_w) {
        return NULL;
    }
    return image + (y * window->input_w + x) * channels;
}

/*
 * Copy the window at input row in_y, column in_x into patch, as
 * [filter_h, filter_w, patch_c]: patch_c channels of each tap, starting at `image`
 * (which already points at the group's first channel). Taps outside the image read
 * the input zero point.
 */
static void tg_gather_patch(const tg_conv_window_t *window, const int8_t *image, int32_t image_c,
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

void tg_conv2d_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                  int8_t *patch_buffer)
{
    const tg_conv_window_t *window = &params->window;
    const int32_t groups = params->input_c / params->filter_c;
    const int32_t channels_per_group = params->output_c / groups;
    const int32_t patch_size = window->filter_h * window->filter_w * params->filter_c;
    const int pointwise = window->filter_h == 1 && window->filter_w == 1;
    const int32_t image_size = window->input_h * window->input_w * params->input_c;

    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *image = input + batch * image_size;
        for (int32_t out_y = 0; out_y < window->output_h; ++out_y) {
            const int32_t in_y = out_y * window->stride_h - window->pad_top;
            for (int32_t out_x = 0; out_x < window->output_w; ++out_x) {
                const int32_t in_x = out_x * window->stride_w - window->pad_left;
                const int8_t *filter = params->filter;
                int32_t channel = 0;
                for (int32_t group = 0; group < groups; ++group) {
                    const int8_t *group_image = image + group * params->filter_c;
                    const int8_t *patch;
                    if (pointwise) {
                        /* A 1x1 window is never padded: its patch is part of one input pixel. */
                        patch = group_image + (in_y * window->input_w + in_x) * params->input_c;
                    } else {
                        tg_gather_patch(window, group_image, params->input_c, params->filter_c, in_y, in_x,
                                        patch_buffer);
                        patch = patch_buffer;
                    }
                    for (int32_t i = 0; i < channels_per_group; ++i, ++channel) {
                        output[channel] = tg_conv_output(&params->requant, channel,
                                                         tg_dot_s8(filter, patch, patch_size));
                        filter += patch_size;
                    }
                }
                output += params->output_c;
            }
        }
    }
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
                const int8_t *taps = params->filter;
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
    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *filter = params->filter;
        for (int32_t channel = 0; channel < params->output_depth; ++channel) {
            output[channel] = tg_conv_output(&params->requant, channel,
                                             tg_dot_s8(filter, input, params->input_depth));
            filter += params->input_depth;
        }
        input += params->input_depth;
        output += params->output_depth;
    }
}
