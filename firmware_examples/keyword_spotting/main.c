/*
 * Keyword spotting: the MLPerf Tiny DS-CNN (kws_ref_model.tflite, compiled by tinygen as
 * "kws") listens to one second of audio, given as 49 frames x 10 MFCC features, and prints
 * the keyword it hears. The features are the fixed test input in test_input.h; on a real
 * board they come from the microphone's MFCC front end.
 */
#include <stdint.h>

#include "../common/example.h"
#include "kws.h"
#include "test_input.h"
#include "tg_firmware.h"

/* The model's 12 classes, in the order of its output (mlcommons/tiny, keyword_spotting). */
static const char *const labels[KWS_OUTPUT0_ELEMENTS] = {
    "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown",
};

int main(void)
{
    static int8_t features[KWS_INPUT0_ELEMENTS];
    static int8_t scores[KWS_OUTPUT0_ELEMENTS];

    tg_console_init();
    example_quantize(test_input, features, KWS_INPUT0_ELEMENTS, KWS_INPUT0_SCALE, KWS_INPUT0_ZERO_POINT);
    if (kws_invoke(features, scores) != 0) {
        tg_print("keyword spotting: inference failed\n");
        return TG_EXIT_MODEL_ERROR;
    }
    (void)example_print_top_class("keyword", labels, scores, KWS_OUTPUT0_ELEMENTS);
    return TG_EXIT_PASS;
}
