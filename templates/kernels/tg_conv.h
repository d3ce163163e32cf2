/*
 * tinygen kernels: int8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.
 *
 * Activations are int8 with per-tensor quantization; filters are int8, symmetric
 * (zero point 0), per output channel or per tensor; the bias is int32. Outputs equal
 * TensorFlow Lite Micro's reference kernels (reference/integer_ops/conv.h,
 * depthwise_conv.h and fully_connected.h) byte for byte.
 *
 * TFLM accumulates filter * (input - input_zero_point) over the taps that fall inside
 * the image and then adds the bias. These kernels get the same int32 sum with less
 * work per tap: the compiler folds the input zero point into the bias,
 *     bias[c] = model_bias[c] - input_zero_point * (sum of every filter tap of channel c),
 * and the kernels accumulate filter * input over every tap, reading the input zero
 * point for taps outside the image (those contribute filter * 0 in TFLM). The two sums
 * are equal modulo 2^32, so the requantized results are identical.
 *
 * The kernels here read dense int8 filters; tg_conv_compressed.h has the same ops on
 * compressed filters (lookup tables of clustered values, sparse rows). Its FULLY_CONNECTED
 * instantiates the loop nests below with its own row reader; its CONV_2D and
 * DEPTHWISE_CONV_2D decode the filter into scratch and call the dense kernels here.
 */
#ifndef TG_CONV_H
#define TG_CONV_H

#include "tg_common.h"

/* From int32 accumulator to int8 output, per output channel c:
 * output = clamp(requantize(bias[c] + sum, multiplier, shift) + output_zero_point). */
typedef struct {
    const int32_t *bias;       /* [C_out], with the input zero point folded in (see above) */
    const int32_t *multiplier; /* Q31 significands: [C_out] if per_channel, else [1] */
    const int32_t *shift;      /* power-of-two exponents (> 0: left shift), same length */
    int32_t per_channel;       /* 1: one multiplier and shift per channel; 0: one for all */
    int32_t output_zero_point;
    int32_t activation_min;    /* fused activation clamp, in output units */
    int32_t activation_max;
} tg_conv_requant_t;

/* The sliding window of a 2-D convolution over an [N, H, W, C] image. */
typedef struct {
    int32_t input_h, input_w;
    int32_t filter_h, filter_w;
    int32_t output_h, output_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;   /* padding before the first row and column */
    int32_t input_zero_point;    /* what taps outside the image read */
} tg_conv_window_t;

/*
 * A filter as rows: one per output channel, each the `length` values that the kernel
 * multiplies with one input vector, in the order of that vector. Stored in one of four
 * encodings (tinygen/weights.py chooses one per filter):
 *  - dense: `values` holds every value, row after row (TFLite's layout);
 *  - LUT: value i of row r is table[r * table_stride + index i], the indices `bits`
 *    wide, packed 32 / bits to a word from the lowest bits, row after row (a row may
 *    start inside a word). The tables are in flash (`table`), or, when `codebook` is not
 *    NULL, derived per row by the compressed kernel at the start of each call into
 *    scratch from the tensor's codebook and the row's output multiplier
 *    (tg_codebook_tables in tg_conv_compressed.h), `table` then pointing there;
 *  - sparse: the row's entries (its nonzero values) in order, their values in `values`,
 *    or, for sparse LUT, packed indices as above; their columns either as steps (row r
 *    has entries[r] entries, each `steps` columns after the previous one, the first after
 *    column 0) or as a bitmap (bit c of the row is 1 if column c has an entry; the rows'
 *    bits follow each other in one stream of 32-bit words, lowest bit first, so a row may
 *    start inside a word); block rows: the bitmap has a bit per block of TG_BLOCK_VALUES
 *    consecutive values, and each stored block gives all of its values (or indices); pair
 *    blocks: a bitmap row per pair of rows, each bit for both rows' block, whose values
 *    are stored the first row's, then the second's.
 * Pointers an encoding does not use are NULL. The kernels read the rows in order through
 * a copy of the filter whose pointers, index_field and bitmap_field, they advance.
 */
typedef struct {
    int32_t length;              /* values per row */
    int32_t bits;                /* LUT index width, 1..6; 0: int8 values */
    int32_t table_stride;        /* 1 << bits: a table per row; 0: one table for all rows */
    int32_t index_field;         /* the index of indices[0] that starts the next row: 0 here */
    const int8_t *values;
    const int8_t *table;
    const uint32_t *indices;
    const uint16_t *entries;     /* sparse only */
    const uint8_t *steps;        /* sparse with steps only */
    const uint32_t *bitmap;      /* sparse with a bitmap only */
    int32_t bitmap_field;        /* the bit of bitmap[0] that starts the next row: 0 here */
    const int32_t *codebook;     /* codebook tables only: the tensor's codebook entries */
    int32_t codebook_size;       /* its entries (at most 1 << bits) */
    int32_t codebook_shift;      /* the largest output shift of the rows */
} tg_filter_t;

/*
 * Reads the row that `rows` points at and returns its dot product with `vector`
 * (`rows->length` values), then advances `rows` to the next row. The loop nests below
 * start from a copy of the layer's filter at every output pixel.
 */
typedef int32_t (*tg_row_dot_t)(tg_filter_t *rows, const int8_t *vector);

/*
 * Writes the `rows->length` int8 values of the row that `rows` points at into `values`,
 * then advances `rows` to the next row, as a tg_row_dot_t does. The compressed CONV_2D
 * and DEPTHWISE_CONV_2D kernels (tg_conv_compressed.h) decode their filter into scratch
 * with one, once per call, and run the dense loops on it.
 */
typedef void (*tg_row_decode_t)(tg_filter_t *rows, int8_t *values);

/*
 * Optional, where it is faster: reads the next two rows, stores their dot products with
 * `vector` in sums[0] and sums[1], and advances `rows` past both (the dense kernels on
 * cores with the DSP extension, see tg_conv.c). NULL: the loop nests call tg_row_dot_t
 * for each row. Either way they read the same input and write the same outputs in the
 * same order of pixels and rows.
 */
typedef void (*tg_row_pair_dot_t)(tg_filter_t *rows, const int8_t *vector, int32_t sums[2]);

/*
 * CONV_2D, optionally grouped (groups = input_c / filter_c).
 * input  [batches, input_h, input_w, input_c]
 * filter [output_c, filter_h, filter_w, filter_c]  (as TFLite stores it)
 * output [batches, output_h, output_w, output_c]
 * Output channel c belongs to group c / (output_c / groups), which reads input
 * channels [group * filter_c, (group + 1) * filter_c).
 */
typedef struct {
    int32_t batches;
    int32_t input_c;
    int32_t filter_c;            /* input channels per group */
    int32_t output_c;
    tg_conv_window_t window;
    tg_filter_t filter;          /* rows of filter_h * filter_w * filter_c values */
    tg_conv_requant_t requant;
} tg_conv2d_params_t;

/*
 * patch_buffer: filter_h * filter_w * filter_c bytes of scratch, where the kernel
 * gathers the input patch of one output pixel (padding taps set to the input zero
 * point). 1x1 filters read the input directly: patch_buffer is unused and may be NULL.
 */
void tg_conv2d_s8(const tg_conv2d_params_t *params, const int8_t *input, int8_t *output,
                  int8_t *patch_buffer);

/*
 * tg_conv2d_s8 for output channels [first, first + count) only, the dense filter
 * `params->filter` holding just their rows: the same loop nest over every pixel, writing
 * only those channels of each. With first 0 and count output_c, it is tg_conv2d_s8. The
 * compressed kernel runs it on each chunk of rows it decodes.
 */
void tg_conv2d_channels_s8(const tg_conv2d_params_t *params, int32_t first, int32_t count, const int8_t *input,
                           int8_t *output, int8_t *patch_buffer);

/*
 * DEPTHWISE_CONV_2D: output channel c = i * depth_multiplier + m filters input channel i.
 * input  [batches, input_h, input_w, input_c]
 * filter [1, filter_h, filter_w, input_c * depth_multiplier]  (as TFLite stores it;
 *        compressed: rows of filter_h * filter_w taps, one per output channel)
 * output [batches, output_h, output_w, input_c * depth_multiplier]
 */
typedef struct {
    int32_t batches;
    int32_t input_c;
    int32_t depth_multiplier;
    tg_conv_window_t window;
    tg_filter_t filter;
    tg_conv_requant_t requant;
} tg_depthwise_conv2d_params_t;

/* accumulators: scratch of input_c * depth_multiplier int32 values (4-byte aligned). */
void tg_depthwise_conv2d_s8(const tg_depthwise_conv2d_params_t *params, const int8_t *input,
                            int8_t *output, int32_t *accumulators);

/*
 * FULLY_CONNECTED: each of `batches` input rows times the transposed filter.
 * input  [batches, input_depth]  (any shape with that many elements, read row-major)
 * filter [output_depth, input_depth]  (as TFLite stores it)
 * output [batches, output_depth]
 */
typedef struct {
    int32_t batches;
    int32_t input_depth;
    int32_t output_depth;
    tg_filter_t filter;          /* rows of input_depth values */
    tg_conv_requant_t requant;
} tg_fully_connected_params_t;

void tg_fully_connected_s8(const tg_fully_connected_params_t *params, const int8_t *input,
                           int8_t *output);

/* --- shared by the dense and the compressed kernels ------------------------------- */

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/*
 * Cortex-M cores with the DSP extension (M4, M7, M33, M55): the ACLE intrinsics of
 * arm_acle.h multiply two pairs of int16 halves per instruction (SMLAD). A word of four
 * int8 values is split into two such words: SXTB16 sign-extends bytes 0 and 2 ("even"),
 * SXTB16 with ROR #8 bytes 1 and 3 ("odd"). SMLAD adds as int32 addition does (it only
 * sets the Q flag, which nothing reads), so its sums equal the portable loops' modulo 2^32.
 */
#include <arm_acle.h>
#include <string.h>

/* Four int8 values from a possibly unaligned address, as one word (bytes in memory order). */
static inline int32_t tg_load_s8x4(const int8_t *p)
{
    int32_t word;
    memcpy(&word, p, sizeof(word)); /* one LDR: these cores allow unaligned word loads */
    return word;
}

/* Bytes 1 and 3 of `word`, sign-extended to two int16 halves. */
static inline int32_t tg_sxtb16_odd(int32_t word)
{
#if defined(__GNUC__)
    /* arm_acle.h of GCC 12 has no __ror, and GCC does not fold a shift into SXTB16. */
    int32_t halves;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(halves) : "r"(word));
    return halves;
#else
    return __sxtb16(__ror((uint32_t)word, 8));
#endif
}
#endif

/* sum + the dot product of the four int8 values at a and at b (either unaligned). */
static inline int32_t tg_dot4_s8(const int8_t *a, const int8_t *b, int32_t sum)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t a_word = tg_load_s8x4(a);
    const int32_t b_word = tg_load_s8x4(b);
    sum = __smlad(__sxtb16(a_word), __sxtb16(b_word), sum);
    return __smlad(tg_sxtb16_odd(a_word), tg_sxtb16_odd(b_word), sum);
#else
    return sum + a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
#endif
}

/* The int8 output of channel `channel` from its accumulated products (bias not yet added). */
static inline int8_t tg_conv_output(const tg_conv_requant_t *requant, int32_t channel, int32_t sum)
{
    const int32_t index = requant->per_channel ? channel : 0;
    const int32_t scaled = tg_requantize(requant->bias[channel] + sum, requant->multiplier[index],
                                         requant->shift[index]);
    return (int8_t)tg_clamp(scaled + requant->output_zero_point, requant->activation_min,
                            requant->activation_max);
}

/* Pixel (y, x) of an [H, W, channels] image, or NULL if it lies outside the image. */
static inline const int8_t *tg_window_pixel(const tg_conv_window_t *window, const int8_t *image,
                                            int32_t channels, int32_t y, int32_t x)
{
    if (y < 0 || y >= window->input_h || x < 0 || x >= window->input_w) {
        return NULL;
    }
    return image + (y * window->input_w + x) * channels;
}

/*
 * Copy the window at input row in_y, column in_x into patch, as
 * [filter_h, filter_w, patch_c]: patch_c channels of each tap, starting at `image`
 * (which already points at the group's first channel). Taps outside the image read
 * the input zero point.
 */
void tg_conv_gather_patch(const tg_conv_window_t *window, const int8_t *image, int32_t image_c,
                          int32_t patch_c, int32_t in_y, int32_t in_x, int8_t *patch);

/*
 * The outputs of channels [channel, channel + count), in order, from the next `count` rows
 * of `rows` times `vector`: two rows at a time with row_pair_dot if it is not NULL.
 */
static inline void tg_conv_rows_output(const tg_conv_requant_t *requant, tg_row_dot_t row_dot,
                                       tg_row_pair_dot_t row_pair_dot, tg_filter_t *rows,
                                       const int8_t *vector, int32_t channel, int32_t count, int8_t *output)
{
    const int32_t end = channel + count;
    if (row_pair_dot != NULL) {
        for (; channel + 2 <= end; channel += 2) {
            int32_t sums[2];
            row_pair_dot(rows, vector, sums);
            output[channel] = tg_conv_output(requant, channel, sums[0]);
            output[channel + 1] = tg_conv_output(requant, channel + 1, sums[1]);
        }
    }
    for (; channel < end; ++channel) {
        output[channel] = tg_conv_output(requant, channel, row_dot(rows, vector));
    }
}

/*
 * CONV_2D of output channels [first, first + count), the rows of `params->filter` being
 * theirs, each read by row_dot or row_pair_dot (see tg_conv2d_channels_s8). Per pixel, each
 * group that has channels in the range gathers its patch once.
 */
static inline void tg_conv2d_rows(const tg_conv2d_params_t *params, int32_t first, int32_t count,
                                  tg_row_dot_t row_dot, tg_row_pair_dot_t row_pair_dot, const int8_t *input,
                                  int8_t *output, int8_t *patch_buffer)
{
    const tg_conv_window_t *window = &params->window;
    const int32_t groups = params->input_c / params->filter_c;
    const int32_t channels_per_group = params->output_c / groups;
    const int pointwise = window->filter_h == 1 && window->filter_w == 1;
    const int32_t image_size = window->input_h * window->input_w * params->input_c;
    const int32_t end = first + count;

    for (int32_t batch = 0; batch < params->batches; ++batch) {
        const int8_t *image = input + batch * image_size;
        for (int32_t out_y = 0; out_y < window->output_h; ++out_y) {
            const int32_t in_y = out_y * window->stride_h - window->pad_top;
            for (int32_t out_x = 0; out_x < window->output_w; ++out_x) {
                const int32_t in_x = out_x * window->stride_w - window->pad_left;
                tg_filter_t rows = params->filter;
                for (int32_t channel = first; channel < end;) {
                    const int32_t group = channel / channels_per_group;
                    const int32_t group_end = TG_MIN(end, (group + 1) * channels_per_group);
                    const int8_t *group_image = image + group * params->filter_c;
                    const int8_t *patch;
                    if (pointwise) {
                        /* A 1x1 window is never padded: its patch is part of one input pixel. */
                        patch = group_image + (in_y * window->input_w + in_x) * params->input_c;
                    } else {
                        tg_conv_gather_patch(window, group_image, params->input_c, params->filter_c, in_y,
                                             in_x, patch_buffer);
                        patch = patch_buffer;
                    }
                    tg_conv_rows_output(&params->requant, row_dot, row_pair_dot, &rows, patch, channel,
                                        group_end - channel, output);
                    channel = group_end;
                }
                output += params->output_c;
            }
        }
    }
}

/* FULLY_CONNECTED with each filter row read by row_dot or row_pair_dot (see
 * tg_fully_connected_s8). */
static inline void tg_fully_connected_rows(const tg_fully_connected_params_t *params, tg_row_dot_t row_dot,
                                           tg_row_pair_dot_t row_pair_dot, const int8_t *input, int8_t *output)
{
    for (int32_t batch = 0; batch < params->batches; ++batch) {
        tg_filter_t rows = params->filter;
        tg_conv_rows_output(&params->requant, row_dot, row_pair_dot, &rows, input, 0, params->output_depth,
                            output);
        input += params->input_depth;
        output += params->output_depth;
    }
}

#endif /* TG_CONV_H */
