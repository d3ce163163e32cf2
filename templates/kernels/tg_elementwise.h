/*
 * tinygen kernels: element-wise ADD and MUL of two int8 tensors, with broadcasting.
 *
 * Both inputs and the output are int8 with per-tensor quantization. The output is
 * written contiguously; each input is read through a loop nest (tg_broadcast_t)
 * computed at compile time from the three shapes with NumPy broadcasting rules:
 * the nest has one loop per group of adjacent dimensions that can be walked as one
 * (same-shape operands collapse to a single loop), and an input's stride is 0 along
 * every dimension it is broadcast over.
 *
 * The arithmetic per element is that of TensorFlow Lite Micro's reference kernels
 * (reference/integer_ops/add.h and mul.h), so outputs are equal byte for byte.
 */
#ifndef TG_ELEMENTWISE_H
#define TG_ELEMENTWISE_H

#include "tg_common.h"

/* Most loops a broadcast nest may have (TFLite broadcasts up to 6-D). */
#define TG_BROADCAST_MAX_RANK 6

/* The loop nest that walks two inputs in the order of a contiguous output. */
typedef struct {
    int32_t rank;                                  /* loops in use, 1..TG_BROADCAST_MAX_RANK */
    int32_t extents[TG_BROADCAST_MAX_RANK];        /* trip count of each loop, outermost first */
    int32_t input1_strides[TG_BROADCAST_MAX_RANK]; /* elements of input1 stepped per trip (0: broadcast) */
    int32_t input2_strides[TG_BROADCAST_MAX_RANK]; /* elements of input2 stepped per trip (0: broadcast) */
} tg_broadcast_t;

/*
 * ADD requantization (add_common.cc): both inputs are shifted left by left_shift,
 * rescaled to a common scale (twice the larger input scale) by their multipliers,
 * summed, and the sum rescaled to the output scale. Shifts are <= 0 (right shifts).
 */
typedef struct {
    int32_t input1_offset;     /* minus input1's zero point */
    int32_t input1_multiplier; /* Q31 */
    int32_t input1_shift;
    int32_t input2_offset;     /* minus input2's zero point */
    int32_t input2_multiplier; /* Q31 */
    int32_t input2_shift;
    int32_t left_shift;        /* 20 for int8 */
    int32_t output_multiplier; /* Q31 */
    int32_t output_shift;
    int32_t output_offset;     /* output's zero point */
    int32_t activation_min;    /* fused activation clamp, in output units */
    int32_t activation_max;
} tg_add_params_t;

/* MUL requantization (mul_common.cc): the product of the offset inputs, rescaled by
 * input1_scale * input2_scale / output_scale. */
typedef struct {
    int32_t input1_offset;     /* minus input1's zero point */
    int32_t input2_offset;     /* minus input2's zero point */
    int32_t output_multiplier; /* Q31 */
    int32_t output_shift;      /* > 0: left shift */
    int32_t output_offset;     /* output's zero point */
    int32_t activation_min;    /* fused activation clamp, in output units */
    int32_t activation_max;
} tg_mul_params_t;

/* output = input1 + input2, with broadcasting; output is contiguous. */
void tg_add_s8(const tg_add_params_t *params, const tg_broadcast_t *broadcast,
               const int8_t *input1, const int8_t *input2, int8_t *output);

/* output = input1 * input2, with broadcasting; output is contiguous. */
void tg_mul_s8(const tg_mul_params_t *params, const tg_broadcast_t *broadcast,
               const int8_t *input1, const int8_t *input2, int8_t *output);

#endif /* TG_ELEMENTWISE_H */
