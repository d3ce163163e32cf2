/*
 * Anomaly detection: the MLPerf Tiny fully connected autoencoder (ad01_int8.tflite, compiled
 * by tinygen as "autoencoder") reconstructs 5 frames x 128 log-mel energies of a machine's
 * sound; the worse the reconstruction, the more unusual the sound. It prints the anomaly
 * score: the mean squared difference between the input and its reconstruction. The features
 * are the fixed test input in test_input.h; on a real board they come from the microphone.
 */
#include <stdint.h>

#include "../common/example.h"
#include "autoencoder.h"
#include "test_input.h"
#include "tg_firmware.h"

/* Mean squared error between the features and the dequantized reconstruction, in double
 * precision and in order, so that the host can reproduce it exactly. */
static double reconstruction_error(const float *features, const int8_t *reconstruction, uint32_t count)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < count; ++i) {
        const double real = (double)AUTOENCODER_OUTPUT0_SCALE *
                            (double)((int32_t)reconstruction[i] - AUTOENCODER_OUTPUT0_ZERO_POINT);
        const double difference = (double)features[i] - real;
        sum += difference * difference;
    }
    return sum / (double)count;
}

int main(void)
{
    static int8_t features[AUTOENCODER_INPUT0_ELEMENTS];
    static int8_t reconstruction[AUTOENCODER_OUTPUT0_ELEMENTS];

    tg_console_init();
    example_quantize(test_input, features, AUTOENCODER_INPUT0_ELEMENTS, AUTOENCODER_INPUT0_SCALE,
                     AUTOENCODER_INPUT0_ZERO_POINT);
    if (autoencoder_invoke(features, reconstruction) != 0) {
        tg_print("anomaly detection: inference failed\n");
        return TG_EXIT_MODEL_ERROR;
    }
    const double score = reconstruction_error(test_input, reconstruction, AUTOENCODER_OUTPUT0_ELEMENTS);
    tg_print("anomaly score: ");
    example_print_milli((uint32_t)(score * 1000.0 + 0.5));
    tg_print("\n");
    return TG_EXIT_PASS;
}
