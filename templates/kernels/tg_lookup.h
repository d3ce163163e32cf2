/*
 * tinygen kernels: element-wise int8 -> int8 functions as a table lookup.
 *
 * Activations of an int8 tensor (RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH)
 * depend only on the input value, which takes 256 values. tinygen evaluates TensorFlow
 * Lite Micro's integer algorithm for every one of them at compile time; at run time the
 * kernel only indexes that table.
 */
#ifndef TG_LOOKUP_H
#define TG_LOOKUP_H

#include <stdint.h>

/*
 * output[i] = table[input[i] + 128] for i in [0, count). input and output are any
 * shape of count elements and may be the same buffer; table holds 256 entries, the
 * output for input -128 first.
 */
void tg_lookup_s8(const int8_t *input, int8_t *output, int32_t count, const int8_t *table);

#endif /* TG_LOOKUP_H */
