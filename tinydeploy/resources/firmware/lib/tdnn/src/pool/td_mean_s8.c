/* MEAN over H and W (global average pooling), TFLM's int8 MEAN: per channel the int32 sum
 * of the raw values, then TFLM's requantisation with 1/count folded into the multiplier.
 * Four channels per pass: on DSP cores one word load and two SXTAB16 add 4 bytes into
 * 16-bit lane sums (exact for up to 256 positions: |sum| <= 128 * 256 = 2^15, flushed to
 * int32 every 256 positions), else four int32 sums, requantised together; remaining
 * channels one at a time. */
#include "../common/td_internal.h"

#define TD_MEAN_LANE_ROWS 256 /* positions a 16-bit lane sum of int8 values holds exactly */

static void td_mean_sums4(const int8_t *p, int32_t c, int32_t count, int32_t sum[4])
{
    int32_t i;
#if defined(__ARM_FEATURE_DSP)
    sum[0] = sum[1] = sum[2] = sum[3] = 0;
    for (i = 0; i < count;) {
        const int32_t end = count - i > TD_MEAN_LANE_ROWS ? i + TD_MEAN_LANE_ROWS : count;
        int32_t even = 0, odd = 0; /* lanes: channels (0, 2) and (1, 3) */
        for (; i < end; i++, p += c) {
            const int32_t v = (int32_t)td_read_u32(p);
            even = __sxtab16(even, v);
            odd = td_sxtab16_ror8(odd, v);
        }
        sum[0] += (int16_t)(even & 0xFFFF);
        sum[1] += (int16_t)(odd & 0xFFFF);
        sum[2] += (int16_t)((uint32_t)even >> 16);
        sum[3] += (int16_t)((uint32_t)odd >> 16);
    }
#else
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (i = 0; i < count; i++, p += c) {
        s0 += p[0];
        s1 += p[1];
        s2 += p[2];
        s3 += p[3];
    }
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
    sum[3] = s3;
#endif
}

static int8_t td_mean_out(const td_mean_params *params, int32_t sum, int32_t count)
{
    const int32_t v =
        td_mul_by_quant_mult(
            (int32_t)((uint32_t)sum + (uint32_t)params->input_offset * (uint32_t)count),
            params->multiplier, params->shift) +
        params->output_offset;
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

td_status td_mean_s8(const td_mean_params *params, const td_dims *input_dims, const int8_t *input,
                     int8_t *output)
{
    int32_t ch, i, k;
    if (!params || !input_dims || !input || !output || input_dims->h < 1 || input_dims->w < 1 ||
        input_dims->c < 1 || params->multiplier < 0 || params->shift < -31 || params->shift > 30) {
        return TD_ERR_ARG;
    }
    if (input_dims->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    {
        const int32_t c = input_dims->c;
        const int32_t count = input_dims->h * input_dims->w;
        const uint32_t offset = (uint32_t)params->input_offset * (uint32_t)count;
        int32_t sum[4];
        for (ch = 0; ch + 4 <= c; ch += 4) {
            td_mean_sums4(input + ch, c, count, sum);
            for (k = 0; k < 4; k++) {
                sum[k] = (int32_t)((uint32_t)sum[k] + offset);
            }
            /* one multiplier for every channel: the folded exact requantisation of the conv
             * kernels (same results as td_mul_by_quant_mult + offset + clamp) */
            td_requant_channel_s8(sum, 4, params->multiplier, params->shift, params->output_offset,
                                  -128, 127, output + ch, 1);
        }
        for (; ch < c; ch++) {
            const int8_t *p = input + ch;
            int32_t s = 0;
            for (i = 0; i < count; i++, p += c) {
                s += *p;
            }
            output[ch] = td_mean_out(params, s, count);
        }
    }
    return TD_OK;
}
