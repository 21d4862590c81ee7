/* Fully connected, dense [out][in] weights, Helium (MVE) path: three rows per pass share
 * every 16-byte input load; per row one VMLADAVA.S8 (16 MACs with the raw int8 input) and
 * one VADDVA.S8 (its weight sum, so acc = bias + input_offset * sum(w) + sum w * x), in a
 * low-overhead loop of 11 instructions per 48 MACs (three rows is what fits the general
 * registers: VMLADAVA/VADDVA accumulate into even registers, 6 of them, plus 4 pointers
 * and LR), the K tail predicated (zeroing loads). Remaining
 * rows run one at a time. Each row triple is requantised as one (3-lane) vector. No scratch.
 * Compiled to nothing unless __ARM_FEATURE_MVE (td_fc_dense_s8 dispatches). */
#include "../common/td_mve.h"
#include "td_fc_internal.h"

#if defined(__ARM_FEATURE_MVE)

/* acc[r] += sum w_r * x, sum[r] += sum w_r for the 3 rows at w (stride k). */
static void dot3_rows(const int8_t *w, int32_t k, const int8_t *x, int32_t *acc, int32_t *sum)
{
    /* VMLADAVA / VADDVA accumulate into even registers only: fixed register variables */
    register int32_t a0 __asm__("r0") = 0, a1 __asm__("r2") = 0, a2 __asm__("r4") = 0;
    register int32_t s0 __asm__("r6") = 0, s1 __asm__("r8") = 0, s2 __asm__("r10") = 0;
    register const int8_t *w0 __asm__("r3") = w, *w1 __asm__("r5") = w + k;
    register const int8_t *w2 __asm__("r9") = w + 2 * k, *xp __asm__("r1") = x;
    register int32_t blocks __asm__("r12") = k >> 4;
    const int32_t tail = k & 15;
    if (blocks > 0) {
        /* clang-format off */
        __asm__ volatile(
            "dls    lr, %[n]\n\t"
            "1:\n\t"
            "vldrb.u8   q0, [%[x]], #16\n\t"
            "vldrb.u8   q1, [%[w0]], #16\n\t"
            "vmlava.s8  %[a0], q1, q0\n\t"
            "vaddva.s8  %[s0], q1\n\t"
            "vldrb.u8   q2, [%[w1]], #16\n\t"
            "vmlava.s8  %[a1], q2, q0\n\t"
            "vaddva.s8  %[s1], q2\n\t"
            "vldrb.u8   q3, [%[w2]], #16\n\t"
            "vmlava.s8  %[a2], q3, q0\n\t"
            "vaddva.s8  %[s2], q3\n\t"
            "le     lr, 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [s0] "+r"(s0), [s1] "+r"(s1),
              [s2] "+r"(s2), [x] "+r"(xp), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2)
            : [n] "r"(blocks)
            : "q0", "q1", "q2", "q3", "lr", "memory");
        /* clang-format on */
    }
    x = xp;
    if (tail) {
        const mve_pred16_t p = vctp8q((uint32_t)tail);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        int8x16_t v = vldrbq_z_s8(w0, p);
        a0 = vmladavaq_s8(a0, v, xv);
        s0 = vaddvaq_s8(s0, v);
        v = vldrbq_z_s8(w1, p);
        a1 = vmladavaq_s8(a1, v, xv);
        s1 = vaddvaq_s8(s1, v);
        v = vldrbq_z_s8(w2, p);
        a2 = vmladavaq_s8(a2, v, xv);
        s2 = vaddvaq_s8(s2, v);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    sum[0] = s0;
    sum[1] = s1;
    sum[2] = s2;
}

static void dot1_row(const int8_t *w, int32_t k, const int8_t *x, int32_t *acc, int32_t *sum)
{
    int32_t a = 0, s = 0, i;
    for (i = k; i > 0; i -= 16, w += 16, x += 16) {
        const mve_pred16_t q = vctp8q((uint32_t)i);
        const int8x16_t wv = vldrbq_z_s8(w, q);
        a = vmladavaq_s8(a, wv, vldrbq_z_s8(x, q));
        s = vaddvaq_s8(s, wv);
    }
    *acc = a;
    *sum = s;
}

int32_t td_fc_dense_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                           int32_t in_features, const int8_t *input, int32_t out_features,
                           const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const int32_t k = in_features, off = params->input_offset;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    int32_t acc[4] = {0, 0, 0, 0}, sum[4] = {0, 0, 0, 0}, o;
    for (o = 0; o < out_features; o += 3) {
        const int32_t cnt = out_features - o < 3 ? out_features - o : 3;
        const mve_pred16_t p = vctp32q((uint32_t)cnt);
        int32_t r = 0;
        if (cnt == 3) {
            dot3_rows(weights + o * k, k, input, acc, sum);
            r = 3;
        }
        for (; r < cnt; r++) {
            dot1_row(weights + (o + r) * k, k, input, acc + r, sum + r);
        }
        td_mve_fc_store(acc, vldrwq_s32(sum), off, bias, quant->multiplier, quant->shift, o, p,
                        ooff, amin, amax, output);
    }
    return 1;
}

#else
typedef int td_fc_dense_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
