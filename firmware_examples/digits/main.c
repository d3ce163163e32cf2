/*
 * Handwritten digits: the small CNN that train_and_compile.py trains on scikit-learn's 8x8
 * digits, prunes, clusters and quantizes (build/digits/digits_int8.tflite, compiled by
 * tinygen as "digits"), reads one image and prints the digit it sees. The image is the
 * fixed test input in test_input.h (pixel intensities 0-1); on a real board it comes from
 * a camera or a touch pad, downscaled to 8x8.
 */
#include <stdint.h>

#include "../common/example.h"
#include "digits.h"
#include "test_input.h"
#include "tg_firmware.h"

static const char *const labels[DIGITS_OUTPUT0_ELEMENTS] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

int main(void)
{
    static int8_t image[DIGITS_INPUT0_ELEMENTS];
    static int8_t scores[DIGITS_OUTPUT0_ELEMENTS];

    tg_console_init();
    example_quantize(test_input, image, DIGITS_INPUT0_ELEMENTS, DIGITS_INPUT0_SCALE, DIGITS_INPUT0_ZERO_POINT);
    if (digits_invoke(image, scores) != 0) {
        tg_print("digits: inference failed\n");
        return TG_EXIT_MODEL_ERROR;
    }
    (void)example_print_top_class("digit", labels, scores, DIGITS_OUTPUT0_ELEMENTS);
    return TG_EXIT_PASS;
}
