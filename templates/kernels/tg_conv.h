/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.
 *
 * Activations are int8 with per-tensor quantization; filters are int8, symmetric
 * (zero point 0), per output channel or per tensor; the bias is int32. Outputs equal
 * TensorFlow Lite Micro's reference kernels (reference/integer_ops/conv.h,
 * depthwise_conv.h and fully_connected.h) byte for byte.
 *
 * TFLM accumulates filter * (input - input_zero_point) over the taps that fall inside
 * the image and then adds the bias. These kernels get the same int32 sum with less
 * work per tap: the compiler folds the input zero point into the bias,
 *     bias[c] = model_bias[c] - input_zero_point * (sum of every filter tap of channel c),
 * and the kernels accumulate filter * input over every tap, reading the input zero
 * point for taps outside the image (those contribute filter * 0 in TFLM). The two sums
 * are equal modulo 2^32, so the requantized results are identical.
 */
#ifndef TG_CONV_H
#define TG_CONV_H

#include "tg_common.h"

/* From int32 accumulator to int8 output, per output channel c:
 * output = clamp(requantize(bias[c] + sum, multiplier, shift) + output_zero_point). */
typedef struct {
    const int32_t *bias;       /* [C_out], with the input zero point folded in (see above) */
    const int32_t *multiplier; /* Q31 significands: [C_out] if per_channel, else [1] */
    const int32_t *shift;      /* power-of-two exponents (> 0: left shift), same length */
    int32_t per_channel;       /* 1: one multiplier and shift per channel; 0: one for all */
    int32_t output_zero_point;
    int32_t activation_min;    /* fused activation clamp, in output units */
    int32_t activation_max;
} tg_conv_requant_t;

/* The sliding window of a 2-D convolution over an [N, H, W, C] image. */
typedef struct {
    int32_t input_h, input_w;
    int32_t filter_h, filter_w;
    int32_t output_h, output_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;   /* padding before the first row and column */
    int32_t input_zero_point;    /* what taps outside the image read */
} tg_conv_window_t;

/*
 * CONV_2D, optionally grouped (groups = input_c / filter_c).
 * input  [batches, input_h, input_w, input_c]
 * filter [output_c, filter_h, filter_w, filter_c]  (as TFLite stores it)
 * output [batches, output_h, output_w, output_c]
 * Output channel c belongs to group c / (output_c / groups), which reads input
 * channels [group * filter_c, (group + 1) * filter_c).
 */
typedef struct {
    int32_t batches;
    int32_t input_c;
    int32_t filter_c;            /* input channels per group */
    int32_t output_c;
    tg_conv_window_t window;
    const int8_t *filter;
    tg_conv_requant_t requant;
} tg_conv2d_params_t;

/*
 * patch_buffer: filter_h * filter_w * filter_c bytes of scratch, where the kernel
 * gathers the input patch of one output pixel (padding taps set to the input zero
 * point). 1x1 filters read the input directly: patch_buffer is unused and may be NULL.
 */
void tg_conv2d_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                  int8_t *patch_buffer);

/*
 * DEPTHWISE_CONV_2D: output channel c = i * depth_multiplier + m filters input channel i.
 * input  [batches, input_h, input_w, input_c]
 * filter [1, filter_h, filter_w, input_c * depth_multiplier]  (as TFLite stores it)
 * output [batches, output_h, output_w, input_c * depth_multiplier]
 */
typedef struct {
    int32_t batches;
    int32_t input_c;
    int32_t depth_multiplier;
    tg_conv_window_t window;
    const int8_t *filter;
    tg_conv_requant_t requant;
} tg_depthwise_conv2d_params_t;

/* accumulators: scratch of input_c * depth_multiplier int32 values (4-byte aligned). */
void tg_depthwise_conv2d_s8(const tg_depthwise_conv2d_params_t *params, const int8_t *input,
                            int8_t *output, int32_t *accumulators);

/*
 * FULLY_CONNECTED: each of `batches` input rows times the transposed filter.
 * input  [batches, input_depth]  (any shape with that many elements, read row-major)
 * filter [output_depth, input_depth]  (as TFLite stores it)
 * output [batches, output_depth]
 */
typedef struct {
    int32_t batches;
    int32_t input_depth;
    int32_t output_depth;
    const int8_t *filter;
    tg_conv_requant_t requant;
} tg_fully_connected_params_t;

void tg_fully_connected_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                           int8_t *output);

#endif /* TG_CONV_H */
