/*
 * tinygen kernels: data movement of int8 tensors (padding, concatenation).
 *
 * Both only move bytes, as TensorFlow Lite Micro's reference PAD and CONCATENATION do
 * for int8: no value is requantized.
 */
#ifndef TG_SHAPE_H
#define TG_SHAPE_H

#include <stdint.h>

#define TG_PAD_MAX_DIMS 5

/*
 * Constant padding. The input is viewed as [input_dims[0], ..., input_dims[dims_count-1]]
 * (row-major); the output has dims pad_before[d] + input_dims[d] + pad_after[d].
 * output_strides[d] is the number of output elements one step along dimension d spans
 * (1 for the last dimension).
 */
typedef struct {
    int32_t dims_count;
    int32_t input_dims[TG_PAD_MAX_DIMS];
    int32_t pad_before[TG_PAD_MAX_DIMS];
    int32_t pad_after[TG_PAD_MAX_DIMS];
    int32_t output_strides[TG_PAD_MAX_DIMS];
    int8_t pad_value;
} tg_pad_params_t;

void tg_pad_s8(const tg_pad_params_t *params, const int8_t *input, int8_t *output);

/*
 * Concatenation along one axis. Every tensor is viewed as [outer_count, slice, ...]:
 * for each of the outer_count steps, input i contributes copy_sizes[i] consecutive
 * bytes (its extent along the axis times the size of the axes after it), in input order.
 */
typedef struct {
    int32_t outer_count;
    int32_t input_count;
    const int32_t *copy_sizes; /* [input_count] */
} tg_concat_params_t;

void tg_concat_s8(const tg_concat_params_t *params, const int8_t *const *inputs, int8_t *output);

#endif /* TG_SHAPE_H */
