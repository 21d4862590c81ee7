/* Probe of tdnn's internal gemmlowp fixed point (src/common/td_fixedpoint.h), whose int8
 * SOFTMAX outputs are too coarse to show a wrong low bit in an exp: the functions evaluated
 * in bulk, for tests/kernels/test_softmax_kernel.py to compare with the numpy reference
 * (tinydeploy.quant.softmax) on the host (a shared library, through ctypes) and, through the
 * checksums, on QEMU Cortex-M4 and M55 (the SMMULR forms of DSP cores). */
#include <stdint.h>

#include "../../../tinydeploy/resources/firmware/lib/tdnn/src/common/td_fixedpoint.h"

void probe_exp_block(const int32_t *a, int32_t n, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        out[i] = td_exp_on_negative_values_q5(a[i]);
    }
}

void probe_recip_block(const int32_t *a, int32_t n, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        out[i] = td_one_over_one_plus_x_q31(a[i]);
    }
}

/* sum over i < n of f(start + i * step) * (2i + 1) mod 2^32 (the arguments wrap in 32 bits):
 * one wrong result changes it, the odd weights being invertible mod 2^32 */
uint32_t probe_exp_checksum(int32_t start, int32_t step, int32_t n)
{
    uint32_t h = 0, a = (uint32_t)start;
    int32_t i;
    for (i = 0; i < n; i++, a += (uint32_t)step) {
        h += (uint32_t)td_exp_on_negative_values_q5((int32_t)a) * (2u * (uint32_t)i + 1u);
    }
    return h;
}

uint32_t probe_recip_checksum(int32_t start, int32_t step, int32_t n)
{
    uint32_t h = 0, a = (uint32_t)start;
    int32_t i;
    for (i = 0; i < n; i++, a += (uint32_t)step) {
        h += (uint32_t)td_one_over_one_plus_x_q31((int32_t)a) * (2u * (uint32_t)i + 1u);
    }
    return h;
}
