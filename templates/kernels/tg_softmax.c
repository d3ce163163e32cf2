/* tinygen kernels: int8 softmax (see tg_softmax.h). */
#include "tg_softmax.h"

#include "tg_common.h"

/* Integer bits of the sum of exponentials (kAccumulationIntegerBits): Q12.19. */
#define TG_SOFTMAX_SUM_INTEGER_BITS 12

/* x * 2^exponent for exponent in [1, 30], saturating to the int32 range (gemmlowp). */
static int32_t tg_saturating_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return x * ((int32_t)1 << exponent);
}

/* (a + b) / 2 rounded half away from zero, without overflow. */
static int32_t tg_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/*
 * 1 / (1 + a) for a in [0, 1), both Q0.31 (gemmlowp one_over_one_plus_x_for_x_in_0_1):
 * three Newton-Raphson steps on the half denominator (1 + a) / 2, in Q2.29.
 */
static int32_t tg_one_over_one_plus_x(int32_t a)
{
    const int32_t one_q2 = (int32_t)1 << 29;
    const int32_t half_denominator = tg_rounding_half_sum(a, INT32_MAX);
    /* Initial estimate 48/17 - 32/17 * half_denominator. */
    int32_t x = 1515870810 + tg_saturating_rounding_doubling_high_mul(half_denominator, -1010580540);
    for (int step = 0; step < 3; ++step) {
        const int32_t error = one_q2 - tg_saturating_rounding_doubling_high_mul(half_denominator, x);
        x += tg_saturating_shift_left(tg_saturating_rounding_doubling_high_mul(x, error), 2);
    }
    /* x is 1 / half_denominator in Q2.29; halve it and return it as Q0.31. */
    return tg_saturating_shift_left(x, 1);
}

void tg_softmax_s8(const tg_softmax_params_t *params, const int8_t *input, int8_t *output,
                   const int32_t *exp_table)
{
    const int32_t depth = params->depth;
    for (int32_t row = 0; row < params->rows; ++row) {
        const int8_t *row_in = input + row * depth;
        int8_t *row_out = output + row * depth;

        int32_t max = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max = TG_MAX(max, (int32_t)row_in[c]);
        }

        /* Each exponential rounded from Q0.31 to Q12.19, summed; unsigned so that a row
         * TFLM cannot handle still has defined behaviour. */
        uint32_t sum = 0;
        for (int32_t c = 0; c < depth; ++c) {
            sum += (uint32_t)tg_rounding_divide_by_pot(exp_table[max - row_in[c]], TG_SOFTMAX_SUM_INTEGER_BITS);
        }

        /* GetReciprocal: sum = (1 + fraction) * 2^bits_over_unit, scale = 1 / (1 + fraction).
         * The maximum contributes exp(0), so sum >= 2^19 and the loop ends. */
        int headroom = 0;
        uint32_t normalized = sum;
        while ((normalized & 0x80000000u) == 0u) {
            normalized <<= 1;
            ++headroom;
        }
        const int bits_over_unit = TG_SOFTMAX_SUM_INTEGER_BITS - headroom;
        const int32_t scale = tg_one_over_one_plus_x((int32_t)(normalized - 0x80000000u));
        const int exponent = TG_MIN(bits_over_unit + 31 - 8, 31);

        for (int32_t c = 0; c < depth; ++c) {
            const int32_t exp_value = exp_table[max - row_in[c]];
            const int32_t scaled = tg_rounding_divide_by_pot(
                tg_saturating_rounding_doubling_high_mul(scale, exp_value), exponent);
            row_out[c] = (int8_t)tg_clamp(scaled + INT8_MIN, INT8_MIN, INT8_MAX);
        }
    }
}
