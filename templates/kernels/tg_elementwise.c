/*
 * tinygen kernels: element-wise ADD and MUL of two int8 tensors, with broadcasting.
 *
 * One broadcast walk serves both ops: it visits the loop nest of a tg_broadcast_t and
 * hands each innermost run (a "row") to an op-specific row function, so the cost of
 * the indirection is one call per row, not per element.
 */
#include "tg_elementwise.h"

/* Computes output[i] = f(input1[i * input1_step], input2[i * input2_step]) for i < count. */
typedef void (*tg_row_fn)(const void *params, const int8_t *input1, int32_t input1_step,
                          const int8_t *input2, int32_t input2_step, int8_t *output, int32_t count);

static void walk_broadcast(const tg_broadcast_t *broadcast, tg_row_fn row, const void *params,
                           const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t inner = broadcast->rank - 1;
    const int32_t row_length = broadcast->extents[inner];
    int32_t position[TG_BROADCAST_MAX_RANK] = {0};
    int32_t input1_index = 0;
    int32_t input2_index = 0;

    for (;;) {
        row(params, input1 + input1_index, broadcast->input1_strides[inner],
            input2 + input2_index, broadcast->input2_strides[inner], output, row_length);
        output += row_length;

        /* Advance the outer loops like an odometer; rewind each loop that completes. */
        int32_t loop = inner - 1;
        while (loop >= 0) {
            input1_index += broadcast->input1_strides[loop];
            input2_index += broadcast->input2_strides[loop];
            if (++position[loop] < broadcast->extents[loop]) {
                break;
            }
            input1_index -= broadcast->input1_strides[loop] * broadcast->extents[loop];
            input2_index -= broadcast->input2_strides[loop] * broadcast->extents[loop];
            position[loop] = 0;
            --loop;
        }
        if (loop < 0) {
            return;
        }
    }
}

static void add_row(const void *opaque_params, const int8_t *input1, int32_t input1_step,
                    const int8_t *input2, int32_t input2_step, int8_t *output, int32_t count)
{
    const tg_add_params_t *params = (const tg_add_params_t *)opaque_params;
    for (int32_t i = 0; i < count; ++i) {
        const int32_t shifted1 = (params->input1_offset + input1[i * input1_step]) * (1 << params->left_shift);
        const int32_t shifted2 = (params->input2_offset + input2[i * input2_step]) * (1 << params->left_shift);
        const int32_t sum = tg_requantize(shifted1, params->input1_multiplier, params->input1_shift) +
                            tg_requantize(shifted2, params->input2_multiplier, params->input2_shift);
        const int32_t result =
            tg_requantize(sum, params->output_multiplier, params->output_shift) + params->output_offset;
        output[i] = (int8_t)tg_clamp(result, params->activation_min, params->activation_max);
    }
}

static void mul_row(const void *opaque_params, const int8_t *input1, int32_t input1_step,
                    const int8_t *input2, int32_t input2_step, int8_t *output, int32_t count)
{
    const tg_mul_params_t *params = (const tg_mul_params_t *)opaque_params;
    for (int32_t i = 0; i < count; ++i) {
        const int32_t product = (params->input1_offset + input1[i * input1_step]) *
                                (params->input2_offset + input2[i * input2_step]);
        const int32_t result =
            tg_requantize(product, params->output_multiplier, params->output_shift) + params->output_offset;
        output[i] = (int8_t)tg_clamp(result, params->activation_min, params->activation_max);
    }
}

void tg_add_s8(const tg_add_params_t *params, const tg_broadcast_t *broadcast,
               const int8_t *input1, const int8_t *input2, int8_t *output)
{
    walk_broadcast(broadcast, add_row, params, input1, input2, output);
}

void tg_mul_s8(const tg_mul_params_t *params, const tg_broadcast_t *broadcast,
               const int8_t *input1, const int8_t *input2, int8_t *output)
{
    walk_broadcast(broadcast, mul_row, params, input1, input2, output);
}
