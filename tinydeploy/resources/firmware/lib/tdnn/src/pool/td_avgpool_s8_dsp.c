/* Average pooling, Cortex-M DSP (M55 too, before its Helium path): each window is
 * summed 8 (then 4) channels at a time in int16 lanes (one word load and two SXTAB16 per
 * 4 channels and cell; |sum| <= 128 * count fits int16 for count <= 256), then one rounded
 * division per channel exactly as TFLM: (sum + count/2) / count for sum > 0, else
 * (sum - count/2) / count, C truncating division (SDIV). td_avgpool_s8 runs it for filters
 * of at most 256 cells, after its checks. */
#include "td_pool_common.h"

#if defined(__ARM_FEATURE_DSP)

/* TFLM's rounded mean: (sum + count/2) / count for sum > 0, (sum - count/2) / count
 * otherwise (C truncating division; sum = 0 gives 0 either way, so the sign bit decides).
 * |sum| <= 128 * count keeps the mean within int8: only the activation clamps. */
static inline int8_t avg_round(int32_t sum, int32_t count, int32_t half, int32_t amin, int32_t amax)
{
    const int32_t sg = sum >> 31;
    int32_t q = (sum + ((half ^ sg) - sg)) / count;
    if (amin > -128 || amax < 127) {
        q = q < amin ? amin : q;
        q = q > amax ? amax : q;
    }
    return (int8_t)q;
}

/* The two channels of an int16 pair sum (low, high) to out[0] and out[step]. */
static inline void avg_pair(int32_t pair, int32_t count, int32_t half, int32_t amin, int32_t amax,
                            int8_t *out, int32_t step)
{
    out[0] = avg_round((int16_t)pair, count, half, amin, amax);
    out[step] = avg_round(pair >> 16, count, half, amin, amax);
}

/* 8 channels at q: int16 pair sums of `cells` cells `c` bytes apart added to s[0..3]
 * (channels 0/2, 1/3, 4/6, 5/7), two cells per step. */
static inline void avg_sum8(const int8_t *q, int32_t cells, int32_t c, int32_t *s)
{
    int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    const int8_t *q2 = q + c;
    const int32_t step = 2 * c;
    for (; cells >= 2; cells -= 2, q += step, q2 += step) {
        const int32_t v0 = (int32_t)td_read_u32(q), v1 = (int32_t)td_read_u32(q + 4);
        const int32_t v2 = (int32_t)td_read_u32(q2), v3 = (int32_t)td_read_u32(q2 + 4);
        s0 = __sxtab16(s0, v0);
        s1 = td_sxtab16_ror8(s1, v0);
        s2 = __sxtab16(s2, v1);
        s3 = td_sxtab16_ror8(s3, v1);
        s0 = __sxtab16(s0, v2);
        s1 = td_sxtab16_ror8(s1, v2);
        s2 = __sxtab16(s2, v3);
        s3 = td_sxtab16_ror8(s3, v3);
    }
    if (cells) {
        const int32_t v0 = (int32_t)td_read_u32(q), v1 = (int32_t)td_read_u32(q + 4);
        s0 = __sxtab16(s0, v0);
        s1 = td_sxtab16_ror8(s1, v0);
        s2 = __sxtab16(s2, v1);
        s3 = td_sxtab16_ror8(s3, v1);
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

void td_avgpool_s8_dsp(const td_pool_params *p, const td_dims *in, const int8_t *input,
                       const td_dims *out, int8_t *output)
{
    const int32_t c = in->c, row_stride = in->w * c;
    const int32_t amin = p->activation.min, amax = p->activation.max;
    int32_t oy, ox, ch, y, x;
    for (oy = 0; oy < out->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t y0 = iy0 < 0 ? 0 : iy0;
        const int32_t y1 = iy0 + p->filter_h < in->h ? iy0 + p->filter_h : in->h;
        for (ox = 0; ox < out->w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t x0 = ix0 < 0 ? 0 : ix0;
            const int32_t x1 = ix0 + p->filter_w < in->w ? ix0 + p->filter_w : in->w;
            const int32_t count = (y1 - y0) * (x1 - x0), half = count / 2;
            const int8_t *base = input + (y0 * in->w + x0) * c;
            int8_t *o = output + (oy * out->w + ox) * c;
            /* whole input rows are contiguous: one run of cells */
            const int32_t runs = x1 - x0 == in->w ? 1 : y1 - y0;
            const int32_t cells = x1 - x0 == in->w ? count : x1 - x0;
            for (ch = 0; ch + 8 <= c; ch += 8) {
                int32_t sums[4] = {0, 0, 0, 0};
                const int8_t *r = base + ch;
                for (y = 0; y < runs; y++, r += row_stride) {
                    avg_sum8(r, cells, c, sums);
                }
                avg_pair(sums[0], count, half, amin, amax, o + ch, 2);
                avg_pair(sums[1], count, half, amin, amax, o + ch + 1, 2);
                avg_pair(sums[2], count, half, amin, amax, o + ch + 4, 2);
                avg_pair(sums[3], count, half, amin, amax, o + ch + 5, 2);
            }
            for (; ch + 4 <= c; ch += 4) {
                int32_t s0 = 0, s1 = 0;
                const int8_t *r = base + ch;
                for (y = 0; y < runs; y++, r += row_stride) {
                    const int8_t *q = r;
                    for (x = 0; x < cells; x++, q += c) {
                        const int32_t v = (int32_t)td_read_u32(q);
                        s0 = __sxtab16(s0, v);
                        s1 = td_sxtab16_ror8(s1, v);
                    }
                }
                avg_pair(s0, count, half, amin, amax, o + ch, 2);
                avg_pair(s1, count, half, amin, amax, o + ch + 1, 2);
            }
            for (; ch < c; ch++) {
                int32_t s = 0;
                const int8_t *r = base + ch;
                for (y = 0; y < runs; y++, r += row_stride) {
                    for (x = 0; x < cells; x++) {
                        s += r[x * c];
                    }
                }
                o[ch] = avg_round(s, count, half, amin, amax);
            }
        }
    }
}

#else
typedef int td_avgpool_s8_dsp_unused; /* ISO C: no empty translation unit */
#endif
