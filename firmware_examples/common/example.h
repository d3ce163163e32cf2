/*
 * What the example applications share: quantizing a real-valued input with the model's
 * scale and zero point, and printing results on the console (tg_firmware.h: the board's
 * UART, and semihosting under QEMU). Integer printing only: no printf, no float formatting.
 */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "tg_firmware.h"

/* real -> int8: round(real / scale) + zero_point, halves away from zero, saturated. */
static inline void example_quantize(const float *real, int8_t *quantized, size_t count, float scale,
                                    int32_t zero_point)
{
    for (size_t i = 0; i < count; ++i) {
        const float scaled = real[i] / scale;
        const int32_t rounded = scaled >= 0.0f ? (int32_t)(scaled + 0.5f) : -(int32_t)(0.5f - scaled);
        int32_t value = rounded + zero_point;
        if (value < INT8_MIN) {
            value = INT8_MIN;
        } else if (value > INT8_MAX) {
            value = INT8_MAX;
        }
        quantized[i] = (int8_t)value;
    }
}

/* The index of the highest score (the first one on a tie). */
static inline size_t example_top_class(const int8_t *scores, size_t count)
{
    size_t best = 0;
    for (size_t i = 1; i < count; ++i) {
        if (scores[i] > scores[best]) {
            best = i;
        }
    }
    return best;
}

/* Prints "<what>: <label> (class <i>, score <s>)" for the top class and returns it. */
static inline size_t example_print_top_class(const char *what, const char *const *labels, const int8_t *scores,
                                             size_t count)
{
    const size_t best = example_top_class(scores, count);
    tg_print(what);
    tg_print(": ");
    tg_print(labels[best]);
    tg_print(" (class ");
    tg_print_u32((uint32_t)best);
    tg_print(", score ");
    tg_print_i32(scores[best]);
    tg_print(")\n");
    return best;
}

/* Prints thousandths as a decimal number, e.g. 12345 as "12.345". */
static inline void example_print_milli(uint32_t thousandths)
{
    static const char digits[] = "0123456789";
    char fraction[5] = {'.', '0', '0', '0', '\0'};
    uint32_t rest = thousandths % 1000u;
    for (int position = 3; position >= 1; --position) {
        fraction[position] = digits[rest % 10u];
        rest /= 10u;
    }
    tg_print_u32(thousandths / 1000u);
    tg_print(fraction);
}

#endif /* EXAMPLE_H */
