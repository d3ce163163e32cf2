"""gemmlowp's fixed-point math functions, emulated on Python ints with int32 semantics.

TensorFlow Lite Micro's int8 LOGISTIC, TANH and SOFTMAX kernels evaluate exp, tanh and
1 / (1 + x) with the fixed-point routines of gemmlowp (fixedpoint/fixedpoint.h). An int8
input has only 256 values, so tinygen evaluates those routines here, at compile time, and
stores the results as tables; that only works if every intermediate value equals the C
one, so each function below reproduces the int32 arithmetic step by step:

- a fixed-point number is its raw int32 plus a number of integer bits m (gemmlowp's
  FixedPoint<int32_t, m>): real = raw / 2^(31 - m). Functions take and return raw ints;
  the integer bits are explicit arguments;
- plain additions, subtractions and negations wrap around as int32 (they are unchecked
  in gemmlowp and wrap on every target TFLM runs on); multiplications are
  SaturatingRoundingDoublingHighMul; changes of format saturate or round exactly as
  gemmlowp's SaturatingRoundingMultiplyByPOT does.

The primitives shared with requantization (rounding doubling high multiply, rounding
divide by a power of two, int32 wrap) live in `tinygen.quant`; this module adds the
function approximations built on them. (Softmax's reciprocal of a sum of exponentials
depends on run-time data: tg_softmax.c computes it in C with the same steps as
`one_over_one_plus_x_for_x_in_0_1`.)
"""

from __future__ import annotations

from .quant import (INT32_MAX, INT32_MIN, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
                    wrap_int32)

# Raw constants of gemmlowp's approximations (exact values are in the comments).
_EXP_MINUS_ONE_EIGHTH = 1895147668          # exp(-1/8) with 0 integer bits
_ONE_THIRD = 715827883                      # 1/3 with 0 integer bits
_FORTY_EIGHT_SEVENTEENTHS = 1515870810      # 48/17 with 2 integer bits
_MINUS_THIRTY_TWO_SEVENTEENTHS = -1010580540  # -32/17 with 2 integer bits
# exp(-2^k) with 0 integer bits, for k = -2 .. 4: the factors of exp's barrel shifter.
_EXP_OF_MINUS_POWERS_OF_TWO = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                               (2, 39332535), (3, 720401), (4, 242))
_NEWTON_RAPHSON_STEPS = 3


def fractional_bits(integer_bits: int) -> int:
    """Bits after the binary point of an int32 fixed-point number with `integer_bits`."""
    return 31 - integer_bits


def one(integer_bits: int) -> int:
    """The raw value of 1.0 (saturated to INT32_MAX when there are no integer bits)."""
    return INT32_MAX if integer_bits == 0 else 1 << fractional_bits(integer_bits)


def multiply(a: int, b: int) -> int:
    """Product of two fixed-point numbers; the result has the sum of their integer bits."""
    return saturating_rounding_doubling_high_mul(a, b)


def saturating_rounding_multiply_by_pot(x: int, exponent: int) -> int:
    """x * 2^exponent: a saturating left shift (exponent > 0) or a rounding right shift."""
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def rescale(x: int, source_integer_bits: int, target_integer_bits: int) -> int:
    """The same real value in a format with `target_integer_bits` (gemmlowp Rescale)."""
    return saturating_rounding_multiply_by_pot(x, source_integer_bits - target_integer_bits)


def rounding_half_sum(a: int, b: int) -> int:
    """(a + b) / 2 rounded half away from zero, computed without overflow."""
    total = a + b
    halved = abs(total + (1 if total >= 0 else -1)) // 2  # C division truncates toward zero
    return halved if total >= 0 else -halved


def _exp_on_interval_between_minus_one_quarter_and_zero(a: int) -> int:
    """exp(a) for a in [-1/4, 0), a with 0 integer bits: Taylor series around -1/8."""
    x = wrap_int32(a + (1 << 28))  # a + 1/8
    x2 = multiply(x, x)
    x3 = multiply(x2, x)
    x4 = multiply(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(
        wrap_int32(multiply(wrap_int32(x4_over_4 + x3), _ONE_THIRD) + x2), -1)
    series = multiply(_EXP_MINUS_ONE_EIGHTH, wrap_int32(x + x4_over_24_plus_x3_over_6_plus_x2_over_2))
    return wrap_int32(_EXP_MINUS_ONE_EIGHTH + series)


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 with `integer_bits`; the result has 0 integer bits.

    Splits a into a multiple of 1/4 and a remainder in [-1/4, 0): the remainder goes
    through the Taylor series, the multiple through a barrel shifter multiplying by
    exp(-2^k) for every bit k that is set.
    """
    one_quarter = 1 << (fractional_bits(integer_bits) - 2)
    a_mod_quarter_minus_one_quarter = wrap_int32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_on_interval_between_minus_one_quarter_and_zero(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, exp_of_minus_power in _EXP_OF_MINUS_POWERS_OF_TWO:
        if integer_bits > exponent and remainder & (1 << (fractional_bits(integer_bits) + exponent)):
            result = multiply(result, exp_of_minus_power)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):  # below -32: exp underflows
        result = 0
    return one(0) if a == 0 else result


def _newton_raphson_reciprocal(half_denominator: int) -> int:
    """1 / half_denominator with 2 integer bits, for half_denominator in [1/2, 1)."""
    x = wrap_int32(_FORTY_EIGHT_SEVENTEENTHS + multiply(half_denominator, _MINUS_THIRTY_TWO_SEVENTEENTHS))
    for _ in range(_NEWTON_RAPHSON_STEPS):
        one_minus_half_denominator_times_x = wrap_int32(one(2) - multiply(half_denominator, x))
        x = wrap_int32(x + rescale(multiply(x, one_minus_half_denominator_times_x), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """1 / (1 + a) for a in [0, 1), all with 0 integer bits."""
    reciprocal = _newton_raphson_reciprocal(rounding_half_sum(a, one(0)))
    return rescale(reciprocal, 1, 0)  # the 2-integer-bit value halved, as 1 integer bit


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """(1 - a) / (1 + a) for a in [0, 1), all with 0 integer bits."""
    reciprocal = _newton_raphson_reciprocal(rounding_half_sum(a, one(0)))
    return rescale(wrap_int32(reciprocal - one(2)), 2, 0)


def logistic(a: int, integer_bits: int) -> int:
    """1 / (1 + exp(-a)) for any a with `integer_bits`; the result has 0 integer bits."""
    if a == 0:
        return 1 << 30  # one half
    magnitude = a if a > 0 else wrap_int32(-a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(wrap_int32(-magnitude), integer_bits))
    return result_if_positive if a > 0 else wrap_int32(one(0) - result_if_positive)


def tanh(a: int, integer_bits: int) -> int:
    """tanh(a) for any a with `integer_bits`; the result has 0 integer bits.

    Computed as (1 - exp(-2|a|)) / (1 + exp(-2|a|)) with the sign of a.
    """
    if a == 0:
        return 0
    negative_magnitude = a if a < 0 else wrap_int32(-a)
    # Doubling is exact: the same raw value read with one more integer bit.
    tanh_of_magnitude = one_minus_x_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(negative_magnitude, integer_bits + 1))
    return wrap_int32(-tanh_of_magnitude) if a < 0 else tanh_of_magnitude

