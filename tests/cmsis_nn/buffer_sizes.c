/*
 * CMSIS-NN's own scratch buffer sizes, for tests/cmsis_nn/test_cmsis_nn_backend.py.
 *
 * Reads queries from stdin, one a line, and answers each with one line
 * "PLAIN DSP MVE": the sizes in bytes that the kernel's *_get_buffer_size function gives
 * for a plain-C, a DSP and an MVE build. Built for the host (neither ARM_MATH_DSP nor
 * ARM_MATH_MVEI defined), the unsuffixed function is the plain-C variant; the _dsp and
 * _mve functions are CMSIS-NN's host-callable versions of the other two.
 *
 *   conv N H W C_IN C_OUT FH FW C_FILTER OH OW STRIDE_H STRIDE_W PAD_H PAD_W DIL_H DIL_W
 *   depthwise N H W C_IN C_OUT FH FW OH OW STRIDE_H STRIDE_W PAD_H PAD_W DIL_H DIL_W CH_MULT
 *   avgpool OW C
 *   fc C_IN C_OUT
 */
#include <stdio.h>
#include <string.h>

#include "arm_nnfunctions.h"

enum { CONV_FIELDS = 16, DEPTHWISE_FIELDS = 16, AVGPOOL_FIELDS = 2, FC_FIELDS = 2 };

static int read_ints(int32_t *values, int count)
{
    for (int i = 0; i < count; ++i) {
        if (scanf("%d", &values[i]) != 1) {
            return 0;
        }
    }
    return 1;
}

static int conv(void)
{
    int32_t v[CONV_FIELDS];
    if (!read_ints(v, CONV_FIELDS)) {
        return 0;
    }
    const cmsis_nn_dims input = { v[0], v[1], v[2], v[3] };
    const cmsis_nn_dims filter = { v[4], v[5], v[6], v[7] };
    const cmsis_nn_dims output = { v[0], v[8], v[9], v[4] };
    const cmsis_nn_conv_params params = {
        .stride = { .h = v[10], .w = v[11] },
        .padding = { .h = v[12], .w = v[13] },
        .dilation = { .h = v[14], .w = v[15] },
    };
    printf("%d %d %d\n", (int)arm_convolve_wrapper_s8_get_buffer_size(&params, &input, &filter, &output),
           (int)arm_convolve_wrapper_s8_get_buffer_size_dsp(&params, &input, &filter, &output),
           (int)arm_convolve_wrapper_s8_get_buffer_size_mve(&params, &input, &filter, &output));
    return 1;
}

static int depthwise(void)
{
    int32_t v[DEPTHWISE_FIELDS];
    if (!read_ints(v, DEPTHWISE_FIELDS)) {
        return 0;
    }
    const cmsis_nn_dims input = { v[0], v[1], v[2], v[3] };
    const cmsis_nn_dims filter = { 1, v[5], v[6], v[4] };
    const cmsis_nn_dims output = { v[0], v[7], v[8], v[4] };
    const cmsis_nn_dw_conv_params params = {
        .ch_mult = v[15],
        .stride = { .h = v[9], .w = v[10] },
        .padding = { .h = v[11], .w = v[12] },
        .dilation = { .h = v[13], .w = v[14] },
    };
    printf("%d %d %d\n", (int)arm_depthwise_conv_wrapper_s8_get_buffer_size(&params, &input, &filter, &output),
           (int)arm_depthwise_conv_wrapper_s8_get_buffer_size_dsp(&params, &input, &filter, &output),
           (int)arm_depthwise_conv_wrapper_s8_get_buffer_size_mve(&params, &input, &filter, &output));
    return 1;
}

static int avgpool(void)
{
    int32_t v[AVGPOOL_FIELDS];
    if (!read_ints(v, AVGPOOL_FIELDS)) {
        return 0;
    }
    printf("%d %d %d\n", (int)arm_avgpool_s8_get_buffer_size(v[0], v[1]),
           (int)arm_avgpool_s8_get_buffer_size_dsp(v[0], v[1]), (int)arm_avgpool_s8_get_buffer_size_mve(v[0], v[1]));
    return 1;
}

static int fully_connected(void)
{
    int32_t v[FC_FIELDS];
    if (!read_ints(v, FC_FIELDS)) {
        return 0;
    }
    const cmsis_nn_dims filter = { v[0], 1, 1, v[1] };
    printf("%d %d %d\n", (int)arm_fully_connected_s8_get_buffer_size(&filter),
           (int)arm_fully_connected_s8_get_buffer_size_dsp(&filter),
           (int)arm_fully_connected_s8_get_buffer_size_mve(&filter));
    return 1;
}

int main(void)
{
    char kind[16];
    while (scanf("%15s", kind) == 1) {
        int ok = 0;
        if (strcmp(kind, "conv") == 0) {
            ok = conv();
        } else if (strcmp(kind, "depthwise") == 0) {
            ok = depthwise();
        } else if (strcmp(kind, "avgpool") == 0) {
            ok = avgpool();
        } else if (strcmp(kind, "fc") == 0) {
            ok = fully_connected();
        }
        if (!ok) {
            fprintf(stderr, "bad query '%s'\n", kind);
            return 1;
        }
    }
    return 0;
}
