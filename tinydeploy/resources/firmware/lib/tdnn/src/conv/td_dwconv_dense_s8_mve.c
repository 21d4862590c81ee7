/* Depthwise conv2d, dense weights, Helium (MVE) path for depth_multiplier 1: channels in
 * lanes, 4 per vector (int32 accumulators): per kernel tap inside the image one widening
 * load of the 4 inputs (VLDRB.S32), the input offset (VADD), one of the 4 weights, VMUL and
 * VADD (MVE's VMLA takes a scalar operand only); bias first, the 4 channels requantised as one vector (td_mve_requant), tails
 * predicated. Other depth multipliers stay on the portable path. Compiled to nothing unless
 * __ARM_FEATURE_MVE (td_dwconv_dense_s8 dispatches after its argument checks). */
#include "../common/td_mve.h"
#include "td_conv_internal.h"

#if defined(__ARM_FEATURE_MVE)

int32_t td_dwconv_dense_s8_mve(const td_dwconv_params *params, const td_quant_params *quant,
                               const td_dims *input_dims, const int8_t *input,
                               const td_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const td_dims *output_dims, int8_t *output)
{
    const int32_t h = input_dims->h, w = input_dims->w, c = input_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t oh = output_dims->h, ow = output_dims->w;
    const int32_t off = params->input_offset, ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    static const int32_t zero8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const uint32x4_t even = vmulq_n_u32(vidupq_n_u32(0, 1), 2), odd = vaddq_n_u32(even, 1);
    int32_t oy, ox, ch, ky, kx;
    if (params->depth_multiplier != 1) {
        return 0;
    }
    for (oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * params->stride_h - params->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = h - iy0 < kh ? h - iy0 : kh;
        for (ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * params->stride_w - params->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t kx1 = w - ix0 < kw ? w - ix0 : kw;
            int8_t *out = output + (oy * ow + ox) * c;
            for (ch = 0; ch + 8 <= c; ch += 8) { /* 8 channels: 16-bit lanes, VMULLB/T */
                int32x4_t ae = vldrwq_gather_shifted_offset_s32(bias ? bias + ch : zero8, even);
                int32x4_t ao = vldrwq_gather_shifted_offset_s32(bias ? bias + ch : zero8, odd);
                for (ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = input + ((iy0 + ky) * w + ix0) * c + ch;
                    const int8_t *wr = filter + ky * kw * c + ch;
                    for (kx = kx0; kx < kx1; kx++) {
                        const int16x8_t xv = vaddq_n_s16(vldrbq_s16(xr + kx * c), (int16_t)off);
                        const int16x8_t wv = vldrbq_s16(wr + kx * c);
                        ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                        ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                    }
                }
                ae = td_mve_requant(
                    ae, vldrwq_gather_shifted_offset_s32(quant->multiplier + ch, even),
                    vldrwq_gather_shifted_offset_s32(quant->shift + ch, even), ooff, amin, amax);
                ao = td_mve_requant(
                    ao, vldrwq_gather_shifted_offset_s32(quant->multiplier + ch, odd),
                    vldrwq_gather_shifted_offset_s32(quant->shift + ch, odd), ooff, amin, amax);
                vstrbq_scatter_offset_s32(out + ch, even, ae);
                vstrbq_scatter_offset_s32(out + ch, odd, ao);
            }
            for (; ch < c; ch += 4) {
                const mve_pred16_t p = vctp32q((uint32_t)(c - ch));
                int32x4_t acc = bias ? vldrwq_z_s32(bias + ch, p) : vdupq_n_s32(0);
                for (ky = ky0; ky < ky1; ky++) {
                    const int8_t *xr = input + ((iy0 + ky) * w + ix0) * c + ch;
                    const int8_t *wr = filter + ky * kw * c + ch;
                    for (kx = kx0; kx < kx1; kx++) {
                        const int32x4_t xv = vaddq_n_s32(vldrbq_z_s32(xr + kx * c, p), off);
                        acc = vaddq_s32(acc, vmulq_s32(xv, vldrbq_z_s32(wr + kx * c, p)));
                    }
                }
                acc = td_mve_requant(acc, vldrwq_z_s32(quant->multiplier + ch, p),
                                     vldrwq_z_s32(quant->shift + ch, p), ooff, amin, amax);
                vstrbq_p_s32(out + ch, acc, p);
            }
        }
    }
    return 1;
}

#else
typedef int td_dwconv_dense_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
