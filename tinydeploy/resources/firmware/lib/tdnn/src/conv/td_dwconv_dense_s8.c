/* Depthwise conv2d, dense weights [1][kh][kw][in_c * depth_multiplier]. */
#include "td_conv_internal.h"

/* The portable loop, for input channels ic_begin .. in_c - 1. */
static TD_NOINLINE void dw_portable(const td_dwconv_params *params, const td_quant_params *quant,
                                    const td_dims *input_dims, const int8_t *input,
                                    const td_dims *filter_dims, const int8_t *filter,
                                    const int32_t *bias, int32_t oh, int32_t ow, int32_t ic_begin,
                                    int8_t *output)
{
    const int32_t h = input_dims->h, w = input_dims->w, c = input_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t dmul = params->depth_multiplier, out_c = c * dmul;
    int32_t oy, ox, ic, dm, ky, kx;
    for (oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * params->stride_h - params->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = h - iy0 < kh ? h - iy0 : kh;
        for (ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * params->stride_w - params->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t kx1 = w - ix0 < kw ? w - ix0 : kw;
            int8_t *out = output + (oy * ow + ox) * out_c;
            for (ic = ic_begin; ic < c; ic++) {
                for (dm = 0; dm < dmul; dm++) {
                    const int32_t oc = ic * dmul + dm;
                    int32_t acc = bias ? bias[oc] : 0;
                    for (ky = ky0; ky < ky1; ky++) {
                        const int8_t *xr = input + ((iy0 + ky) * w + ix0) * c + ic;
                        const int8_t *wr = filter + ky * kw * out_c + oc;
                        for (kx = kx0; kx < kx1; kx++) {
                            acc += wr[kx * out_c] * (xr[kx * c] + params->input_offset);
                        }
                    }
                    out[oc] = td_requant_s8(acc, quant->multiplier[oc], quant->shift[oc],
                                            params->output_offset, params->activation.min,
                                            params->activation.max);
                }
            }
        }
    }
}

td_status td_dwconv_dense_s8(const td_dwconv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             const td_dims *output_dims, int8_t *output)
{
    int32_t oh, ow, ic_begin = 0;
    int32_t h, w, c, out_c, kh, kw, dmul;
    if (!params || !quant || !quant->multiplier || !quant->shift || !input_dims || !input ||
        !filter_dims || !filter || !output_dims || !output) {
        return TD_ERR_ARG;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    h = input_dims->h;
    w = input_dims->w;
    c = input_dims->c;
    kh = filter_dims->h;
    kw = filter_dims->w;
    dmul = params->depth_multiplier;
    out_c = c * dmul;
    if (dmul < 1 || params->stride_h < 1 || params->stride_w < 1 || params->pad_top < 0 ||
        params->pad_left < 0 || params->pad_bottom < 0 || params->pad_right < 0 ||
        filter_dims->n != 1 || filter_dims->c != out_c || output_dims->c != out_c || c < 1 ||
        params->input_offset < -127 || params->input_offset > 128 || params->output_offset < -128 ||
        params->output_offset > 127 || td_internal_check_act(&params->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    oh = td_conv_out_size(h, params->pad_top, params->pad_bottom, kh, params->stride_h);
    ow = td_conv_out_size(w, params->pad_left, params->pad_right, kw, params->stride_w);
    if (oh < 1 || ow < 1 || output_dims->h != oh || output_dims->w != ow) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_dwconv_dense_s8_mve(params, quant, input_dims, input, filter_dims, filter, bias,
                               output_dims, output)) {
        return TD_OK;
    }
#endif
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
    /* small maps (<= 8x8 outputs: MobileNetV1's 6x6 and 3x3 layers): the valid-taps path of
     * the 4-channel variant beats the band's short passes (M4, instructions per MAC: 6x6x128
     * 2.32 against 3.31, 12x12x64 s2 2.80 against 3.83; the band's per-channel check is
     * skipped there) */
    if (!(oh <= 8 && ow <= 8 &&
          td_dwconv_dense_s8_3x3_dsp_small(params, input_dims, output_dims)) &&
        td_dwconv_dense_s8_3x3_band_applies(params, quant, bias, input_dims, filter_dims)) {
        td_dwconv_dense_s8_3x3_band(params, quant, input_dims, input, filter, bias, output_dims,
                                    output);
        ic_begin = c & ~3;
    } else if (td_dwconv_dense_s8_3x3_dsp_applies(params, input_dims, filter_dims)) {
        td_dwconv_dense_s8_3x3_dsp(params, quant, input_dims, input, filter, bias, output_dims,
                                   output);
        ic_begin = c & ~3;
    }
#endif
    if (ic_begin < c) {
        dw_portable(params, quant, input_dims, input, filter_dims, filter, bias, oh, ow, ic_begin,
                    output);
    }
    return TD_OK;
}
