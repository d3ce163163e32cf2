/*
 * Image classification: the MLPerf Tiny ResNet-8 (pretrainedResnet_quant.tflite, compiled
 * by tinygen as "resnet8") sorts a 32x32 RGB image into the ten CIFAR-10 classes and prints
 * the one it sees. The image is the fixed test input in test_input.h (pixel values 0-255);
 * on a real board it comes from the camera.
 */
#include <stdint.h>

#include "../common/example.h"
#include "resnet8.h"
#include "test_input.h"
#include "tg_firmware.h"

static const char *const labels[RESNET8_OUTPUT0_ELEMENTS] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

int main(void)
{
    static int8_t image[RESNET8_INPUT0_ELEMENTS];
    static int8_t scores[RESNET8_OUTPUT0_ELEMENTS];

    tg_console_init();
    example_quantize(test_input, image, RESNET8_INPUT0_ELEMENTS, RESNET8_INPUT0_SCALE, RESNET8_INPUT0_ZERO_POINT);
    if (resnet8_invoke(image, scores) != 0) {
        tg_print("image classification: inference failed\n");
        return TG_EXIT_MODEL_ERROR;
    }
    (void)example_print_top_class("image", labels, scores, RESNET8_OUTPUT0_ELEMENTS);
    return TG_EXIT_PASS;
}
