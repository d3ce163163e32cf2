/*
 * tinygen kernels: conversions between float32 and int8, and int8 requantization.
 *
 * These are TensorFlow Lite Micro's QUANTIZE and DEQUANTIZE (reference/quantize.h,
 * requantize.h, dequantize.h) with per-tensor parameters; outputs are equal to TFLM's
 * bit for bit. Tensors are flat arrays of `size` elements (any layout: the conversion
 * is element by element).
 */
#ifndef TG_QUANTIZE_H
#define TG_QUANTIZE_H

#include "tg_common.h"

/* real = scale * (q - zero_point) */
typedef struct {
    float scale;
    int32_t zero_point;
} tg_affine_t;

/* int8 -> int8: q_out = q_in * (input_scale / output_scale) + offsets, as one
 * fixed-point multiplication. */
typedef struct {
    int32_t input_offset;  /* minus the input's zero point */
    int32_t multiplier;    /* Q31 significand of input_scale / output_scale */
    int32_t shift;         /* its exponent (> 0: left shift) */
    int32_t output_offset; /* the output's zero point */
} tg_requantize_params_t;

/* int8 output = clamp(round(input / scale) + zero_point), rounding halves away from
 * zero; the division is done in float, as TFLM does it. */
void tg_quantize_f32_s8(const tg_affine_t *quantization, const float *input, int8_t *output, int32_t size);

/* int8 -> int8 requantization to a new scale and zero point, saturating. */
void tg_quantize_s8_s8(const tg_requantize_params_t *params, const int8_t *input, int8_t *output, int32_t size);

/* float output = scale * (input - zero_point). */
void tg_dequantize_s8_f32(const tg_affine_t *quantization, const int8_t *input, float *output, int32_t size);

#endif /* TG_QUANTIZE_H */
