/*
 * tinygen kernels: shared integer arithmetic.
 *
 * These are the fixed-point primitives of TensorFlow Lite Micro's reference kernels
 * (gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT, and TFLite's
 * double-rounding MultiplyByQuantizedMultiplier). Every kernel requantizes with them so
 * that its outputs equal TFLite Micro's byte for byte.
 */
#ifndef TG_COMMON_H
#define TG_COMMON_H

#include <stdint.h>
#include <stddef.h>

#define TG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TG_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Clamp an int32 value to [lo, hi]. */
static inline int32_t tg_clamp(int32_t value, int32_t lo, int32_t hi)
{
    return value < lo ? lo : (value > hi ? hi : value);
}

/* (a * b * 2) / 2^32, rounded to nearest; saturates the one overflowing case. */
static inline int32_t tg_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent, rounded to nearest with halves away from zero. */
static inline int32_t tg_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/*
 * x * multiplier * 2^(shift - 31): the requantization of an int32 accumulator.
 * multiplier is a Q31 significand, shift a power-of-two exponent (> 0: left shift).
 */
static inline int32_t tg_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left_shift = shift > 0 ? (int)shift : 0;
    const int right_shift = shift > 0 ? 0 : (int)-shift;
    /* Multiply in unsigned arithmetic: the left shift may wrap, as it does in TFLM. */
    const int32_t shifted = (int32_t)((uint32_t)x * ((uint32_t)1 << left_shift));
    return tg_rounding_divide_by_pot(tg_saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

#endif /* TG_COMMON_H */
