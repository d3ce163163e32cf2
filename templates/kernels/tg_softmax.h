/*
 * tinygen kernels: softmax of int8 tensors over the last axis.
 *
 * Equals TensorFlow Lite Micro's reference int8 softmax (reference/softmax.h) byte for
 * byte, in integer arithmetic only. The exponentials depend on the input only through
 * the difference d = x - max of a row, so tinygen tabulates them at compile time; the
 * kernel sums them, takes the reciprocal of the sum in gemmlowp fixed point and scales
 * each exponential by it.
 */
#ifndef TG_SOFTMAX_H
#define TG_SOFTMAX_H

#include <stdint.h>

typedef struct {
    int32_t rows;  /* product of all dimensions but the last */
    int32_t depth; /* the last dimension: the softmax runs over it */
} tg_softmax_params_t;

/*
 * input, output: [rows, depth]; output scale 1/256, zero point -128. They may be the
 * same buffer. exp_table[k] is exp(beta * input_scale * -k) as a Q0.31 number for
 * k = max - x in [0, 255], 0 where TFLM skips the element (k beyond its diff_min).
 * Where TFLM aborts (a row whose exponentials sum to 256 or more), the final shift
 * saturates at 31 bits.
 */
void tg_softmax_s8(const tg_softmax_params_t *params, const int8_t *input, int8_t *output,
                   const int32_t *exp_table);

#endif /* TG_SOFTMAX_H */
