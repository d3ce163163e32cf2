/* tinygen kernels: data movement of int8 tensors (see tg_shape.h). */
#include "tg_shape.h"

#include <string.h>

/*
 * Writes the output block of dimension `dim` (and the dimensions after it): the padding
 * before, each input slice, the padding after. Returns the input position after the
 * block; *output is advanced past it. Recursion depth is at most TG_PAD_MAX_DIMS.
 */
static const int8_t *tg_pad_block(const tg_pad_params_t *params, int32_t dim, const int8_t *input,
                                  int8_t **output)
{
    const int32_t stride = params->output_strides[dim];
    const size_t before_bytes = (size_t)(params->pad_before[dim] * stride);
    const size_t after_bytes = (size_t)(params->pad_after[dim] * stride);

    memset(*output, params->pad_value, before_bytes);
    *output += before_bytes;
    if (dim == params->dims_count - 1) {
        const size_t row_bytes = (size_t)params->input_dims[dim];
        memcpy(*output, input, row_bytes);
        *output += row_bytes;
        input += row_bytes;
    } else {
        for (int32_t slice = 0; slice < params->input_dims[dim]; ++slice) {
            input = tg_pad_block(params, dim + 1, input, output);
        }
    }
    memset(*output, params->pad_value, after_bytes);
    *output += after_bytes;
    return input;
}

void tg_pad_s8(const tg_pad_params_t *params, const int8_t *input, int8_t *output)
{
    (void)tg_pad_block(params, 0, input, &output);
}

void tg_concat_s8(const tg_concat_params_t *params, const int8_t *const *inputs, int8_t *output)
{
    for (int32_t outer = 0; outer < params->outer_count; ++outer) {
        for (int32_t i = 0; i < params->input_count; ++i) {
            const size_t copy_bytes = (size_t)params->copy_sizes[i];
            memcpy(output, inputs[i] + outer * params->copy_sizes[i], copy_bytes);
            output += copy_bytes;
        }
    }
}
