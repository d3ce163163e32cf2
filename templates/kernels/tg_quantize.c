/*
 * tinygen kernels: conversions between float32 and int8, and int8 requantization.
 *
 * Exactness notes:
 * - QUANTIZE divides by the scale in float (TFLM casts its double copy of the float
 *   scale back to float) and rounds with std::round. The quotient is first clamped to
 *   a range far wider than int8's, which changes no result that saturates anyway and
 *   keeps the conversion to int32 defined for every input (NaN maps to -128).
 * - DEQUANTIZE: TFLM multiplies in double and rounds to float once. (q - zero_point)
 *   has at most 9 significant bits and the float scale 24, so that double product is
 *   exact, and one correctly rounded float multiplication gives the same float. This
 *   avoids software double arithmetic on single-precision FPUs.
 */
#include "tg_quantize.h"

/* Clamp bound for a quotient before rounding: beyond it every int8 result saturates. */
#define TG_QUOTIENT_LIMIT 512.0f

/* std::round of a float in [-TG_QUOTIENT_LIMIT, TG_QUOTIENT_LIMIT]: halves away from zero. */
static int32_t round_half_away(float value)
{
    const int32_t truncated = (int32_t)value;
    /* Exact: value and truncated differ by less than one and share their sign. */
    const float fraction = value - (float)truncated;
    if (fraction >= 0.5f) {
        return truncated + 1;
    }
    if (fraction <= -0.5f) {
        return truncated - 1;
    }
    return truncated;
}

void tg_quantize_f32_s8(const tg_affine_t *quantization, const float *input, int8_t *output, int32_t size)
{
    for (int32_t i = 0; i < size; ++i) {
        float quotient = input[i] / quantization->scale;
        if (!(quotient >= -TG_QUOTIENT_LIMIT)) {
            quotient = -TG_QUOTIENT_LIMIT;
        } else if (quotient > TG_QUOTIENT_LIMIT) {
            quotient = TG_QUOTIENT_LIMIT;
        }
        const int32_t value = round_half_away(quotient) + quantization->zero_point;
        output[i] = (int8_t)tg_clamp(value, INT8_MIN, INT8_MAX);
    }
}

void tg_quantize_s8_s8(const tg_requantize_params_t *params, const int8_t *input, int8_t *output, int32_t size)
{
    for (int32_t i = 0; i < size; ++i) {
        const int32_t value =
            tg_requantize(input[i] + params->input_offset, params->multiplier, params->shift) +
            params->output_offset;
        output[i] = (int8_t)tg_clamp(value, INT8_MIN, INT8_MAX);
    }
}

void tg_dequantize_s8_f32(const tg_affine_t *quantization, const int8_t *input, float *output, int32_t size)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = quantization->scale * (float)(input[i] - quantization->zero_point);
    }
}
