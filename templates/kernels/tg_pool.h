/*
 * tinygen kernels: pooling and mean reduction of int8 tensors.
 *
 * Each kernel equals TensorFlow Lite Micro's reference kernel byte for byte:
 * - average and max pooling (reference integer_ops/pooling.h): the window is clipped to
 *   the input, padding never enters an average or a maximum, and input and output share
 *   one quantization, so values are pooled without requantization;
 * - mean (reference reduce.h, QuantizedMeanOrSum): an int32 sum of the raw values,
 *   minus the input zero point times the element count, requantized with a multiplier
 *   that already holds the division by the element count.
 */
#ifndef TG_POOL_H
#define TG_POOL_H

#include <stdint.h>

/* The geometry and clamp bounds of a 2-D pooling layer. */
typedef struct {
    int32_t batches;
    int32_t input_height;
    int32_t input_width;
    int32_t channels;
    int32_t output_height;
    int32_t output_width;
    int32_t filter_height;
    int32_t filter_width;
    int32_t stride_height;
    int32_t stride_width;
    int32_t pad_top;       /* padding rows above the input (SAME), else 0 */
    int32_t pad_left;      /* padding columns left of the input (SAME), else 0 */
    int32_t activation_min; /* fused activation clamp, in output quantized units */
    int32_t activation_max;
} tg_pool_params_t;

/*
 * Average pooling. input: [batches, input_height, input_width, channels];
 * output: [batches, output_height, output_width, channels]. Each output is the sum of
 * the window's raw int8 values divided by the count of values inside the input,
 * rounded half away from zero, then clamped to the activation bounds.
 */
void tg_avgpool_s8(const tg_pool_params_t *params, const int8_t *input, int8_t *output);

/* Max pooling; same layouts as tg_avgpool_s8. */
void tg_maxpool_s8(const tg_pool_params_t *params, const int8_t *input, int8_t *output);

/*
 * Mean over a contiguous block of axes, the input viewed as
 * [outer_count, reduced_count, inner_count] and the output as [outer_count, inner_count].
 * For each output: clamp(requantize(sum + input_offset, multiplier, shift)
 *                        + output_zero_point, -128, 127),
 * where input_offset = -input_zero_point * reduced_count and multiplier/shift include
 * the division by reduced_count.
 */
typedef struct {
    int32_t outer_count;
    int32_t reduced_count;
    int32_t inner_count;
    int32_t input_offset;
    int32_t multiplier;
    int32_t shift;
    int32_t output_zero_point;
} tg_mean_params_t;

void tg_mean_s8(const tg_mean_params_t *params, const int8_t *input, int8_t *output);

#endif /* TG_POOL_H */
