/* Max / average pooling, Helium (MVE) path: channels in lanes. Max: VMAX.S8 over the
 * window's non-padded cells, 16 channels per instruction. Average: the cells' sums in 32-bit
 * lanes (VLDRB.S32, 4 channels per add), then TFLM's rounded division (C truncation toward
 * zero after adding +-count/2) per channel, scalar (MVE has no integer divide). Tails of
 * channels predicated. Compiled to nothing unless __ARM_FEATURE_MVE; td_pool_s8 (after its
 * argument checks) dispatches here. */
#include "../common/td_mve.h"
#include "td_pool_common.h"

#if defined(__ARM_FEATURE_MVE)

void td_pool_s8_mve(const td_pool_params *params, const td_dims *input_dims, const int8_t *input,
                    const td_dims *output_dims, int8_t *output, int32_t average)
{
    const int32_t c = input_dims->c;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    const int8x16_t vmin8 = vdupq_n_s8((int8_t)amin), vmax8 = vdupq_n_s8((int8_t)amax);
    int32_t oy, ox, ch, y, x;
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
            int8_t *out = output + (oy * output_dims->w + ox) * c;
            if (!average) {
                for (ch = 0; ch < c; ch += 16) {
                    const mve_pred16_t p = vctp8q((uint32_t)(c - ch));
                    int8x16_t m = vdupq_n_s8(-128);
                    for (y = y0; y < y1; y++) {
                        const int8_t *row = input + (y * input_dims->w) * c + ch;
                        for (x = x0; x < x1; x++) {
                            m = vmaxq_s8(m, vldrbq_z_s8(row + x * c, p));
                        }
                    }
                    vstrbq_p_s8(out + ch, vminq_s8(vmaxq_s8(m, vmin8), vmax8), p);
                }
                continue;
            }
            for (ch = 0; ch < c; ch += 4) {
                const mve_pred16_t p = vctp32q((uint32_t)(c - ch));
                const int32_t n = c - ch < 4 ? c - ch : 4;
                int32x4_t s = vdupq_n_s32(0);
                int32_t sums[4], i;
                for (y = y0; y < y1; y++) {
                    const int8_t *row = input + (y * input_dims->w) * c + ch;
                    for (x = x0; x < x1; x++) {
                        s = vaddq_s32(s, vldrbq_z_s32(row + x * c, p));
                    }
                }
                vstrwq_s32(sums, s);
                for (i = 0; i < n; i++) {
                    int32_t a = sums[i];
                    a = a > 0 ? (a + count / 2) / count : (a - count / 2) / count;
                    a = a < amin ? amin : a;
                    out[ch + i] = (int8_t)(a > amax ? amax : a);
                }
            }
        }
    }
}

#else
typedef int td_pool_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
