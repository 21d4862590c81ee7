/* The pooling kernels: shared argument checks and window walk (max and average differ only
 * in how a window's non-padded cells are reduced). */
#ifndef TD_POOL_COMMON_H
#define TD_POOL_COMMON_H

#include "../common/td_internal.h"

#if defined(__ARM_FEATURE_MVE)
/* Helium variant (td_pool_s8_mve.c), after td_pool_s8's checks: channels in lanes. */
void td_pool_s8_mve(const td_pool_params *params, const td_dims *input_dims, const int8_t *input,
                    const td_dims *output_dims, int8_t *output, int32_t average);
#endif

#if defined(__ARM_FEATURE_DSP)
/* DSP average pooling (td_avgpool_s8_dsp.c, also on Cortex-M55), after td_pool_s8's checks:
 * windows of at most 256 cells, 8 / 4 channels per word in int16 lanes. */
void td_avgpool_s8_dsp(const td_pool_params *params, const td_dims *input_dims, const int8_t *input,
                       const td_dims *output_dims, int8_t *output);
#endif

static inline td_status td_pool_check(const td_pool_params *p, const td_dims *in,
                                      const int8_t *input, const td_dims *out, const int8_t *output)
{
    if (!p || !in || !input || !out || !output) {
        return TD_ERR_ARG;
    }
    if (in->n != 1 || out->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    if (p->stride_h < 1 || p->stride_w < 1 || p->filter_h < 1 || p->filter_w < 1 ||
        p->pad_top < 0 || p->pad_left < 0 || in->c < 1 || out->c != in->c || out->h < 1 ||
        out->w < 1 || in->h < 1 || in->w < 1 || td_internal_check_act(&p->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

/* Every window must hold at least one non-padded cell (a window entirely in the padding has
 * nothing to reduce): checked for all windows before any output is written, whichever path
 * then runs. Row window oy is empty exactly when it ends above the input or starts below it. */
static inline td_status td_pool_check_windows(const td_pool_params *p, const td_dims *in,
                                              const td_dims *out)
{
    int32_t i;
    for (i = 0; i < out->h; i++) {
        const int32_t iy0 = i * p->stride_h - p->pad_top;
        if (iy0 + p->filter_h <= 0 || iy0 >= in->h) {
            return TD_ERR_ARG;
        }
    }
    for (i = 0; i < out->w; i++) {
        const int32_t ix0 = i * p->stride_w - p->pad_left;
        if (ix0 + p->filter_w <= 0 || ix0 >= in->w) {
            return TD_ERR_ARG;
        }
    }
    return TD_OK;
}

/* Max (TFLM MAX_POOL_2D) or average (AVERAGE_POOL_2D: rounded mean over the non-padded
 * cells) of every window, then the activation clamp. */
static inline td_status td_pool_s8(const td_pool_params *params, const td_dims *input_dims,
                                   const int8_t *input, const td_dims *output_dims, int8_t *output,
                                   int32_t average)
{
    int32_t oy, ox, ch, y, x;
    td_status st = td_pool_check(params, input_dims, input, output_dims, output);
    if (st == TD_OK) {
        st = td_pool_check_windows(params, input_dims, output_dims);
    }
    if (st != TD_OK) {
        return st;
    }
#if defined(__ARM_FEATURE_MVE)
    td_pool_s8_mve(params, input_dims, input, output_dims, output, average);
    return TD_OK;
#endif
    for (oy = 0; oy < output_dims->h; oy++) {
        const int32_t iy0 = oy * params->stride_h - params->pad_top;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 =
            iy0 + params->filter_h < input_dims->h ? iy0 + params->filter_h : input_dims->h;
        for (ox = 0; ox < output_dims->w; ox++) {
            const int32_t ix0 = ox * params->stride_w - params->pad_left;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 =
                ix0 + params->filter_w < input_dims->w ? ix0 + params->filter_w : input_dims->w;
            const int32_t count = (y1 - y0) * (x1 - x0);
            int8_t *out = output + (oy * output_dims->w + ox) * input_dims->c;
            for (ch = 0; ch < input_dims->c; ch++) {
                int32_t acc = average ? 0 : -128;
                for (y = y0; y < y1; y++) {
                    const int8_t *row = input + (y * input_dims->w) * input_dims->c + ch;
                    for (x = x0; x < x1; x++) {
                        const int32_t v = row[x * input_dims->c];
                        acc = average ? acc + v : (v > acc ? v : acc);
                    }
                }
                if (average) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                acc = acc < params->activation.min ? params->activation.min : acc;
                acc = acc > params->activation.max ? params->activation.max : acc;
                out[ch] = (int8_t)acc;
            }
        }
    }
    return TD_OK;
}

#endif /* TD_POOL_COMMON_H */
