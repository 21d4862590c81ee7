/* Sparse conv with slim descriptors: td_conv_csr_s8 / td_conv_nm_s8 (and their
 * _get_buffer_size) read only the taps, row pointers and row sums, so a descriptor whose
 * values, column indices, delta columns and N:M metadata are NULL must give the same bytes
 * as the full one, and both the reference conv (TFLM arithmetic: requantise, then pool).
 * The fully connected kernels, which do read them, must reject such a descriptor.
 *
 * Self-contained (seeded LCG data, C reference); built by tests/kernels/test_slim_conv.py
 * for the host (with and without TD_VALIDATE_INDICES, sanitizers) and for QEMU Cortex-M4
 * and M55 (TD_SEMIHOSTING: output through semihosting). Prints "slim-conv: N checks
 * passed" and returns 0, or names the first failing check and returns 1. */
#include <stdint.h>
#include <string.h>

#include "tdnn.h"

#if defined(TD_SEMIHOSTING)
#include "semihost.h"
void sh_exit_c(int c)
{
    sh_exit(c);
}
static void say(const char *s)
{
    sh_puts(s);
}
#else
#include <stdio.h>
static void say(const char *s)
{
    fputs(s, stdout);
}
#endif

static void say_int(int32_t v)
{
    char buf[16];
    int i = 15;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        buf[--i] = '-';
    }
    say(&buf[i]);
}

static uint32_t rng_state = 12345u;
static int32_t rnd(int32_t lo, int32_t hi) /* uniform in [lo, hi] */
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (int32_t)((rng_state >> 8) % (uint32_t)(hi - lo + 1));
}

#define MAX_IN 3000
#define MAX_W 3000
#define MAX_OUT 2000
#define MAX_OC 8
#define MAX_SCRATCH 6000

static int8_t x[MAX_IN], w[MAX_W], got[MAX_OUT], want[MAX_OUT];
static int8_t vals[MAX_W];
static uint8_t col8[MAX_W], meta[MAX_W];
static uint16_t col16[MAX_W], rp16[MAX_OC + 1];
static uint32_t taps[MAX_W];
static int32_t rsum[MAX_OC], bias[MAX_OC], mult[MAX_OC], shift[MAX_OC];
static uint8_t scratch[MAX_SCRATCH + 8] __attribute__((aligned(4)));
static int32_t checks;

typedef struct {
    int32_t h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, pool, n, m;
} conv_case;

static const conv_case CASES[] = {
    /* h  w  c oc kh kw sh sw pt pl pb pr pool  n  m */
    {9, 7, 3, 5, 3, 3, 1, 2, 1, 1, 0, 1, 0, 1, 4},
    {9, 7, 3, 5, 3, 3, 1, 2, 1, 1, 0, 1, 1, 2, 4},
    {8, 8, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8},
    {7, 9, 32, 3, 3, 3, 1, 1, 1, 0, 1, 2, 0, 3, 8}, /* K = 288 > 256: u16 columns */
    {7, 9, 32, 3, 3, 3, 2, 1, 0, 1, 0, 1, 1, 1, 16},
    {10, 10, 4, 6, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2},
};

static int fail(const char *what, int32_t idx)
{
    say("slim-conv: FAIL ");
    say(what);
    say(" (case ");
    say_int(idx);
    say(")\n");
    return 1;
}

static int32_t out_size(int32_t in, int32_t a, int32_t b, int32_t k, int32_t s)
{
    return (in + a + b - k) / s + 1;
}

/* TFLM reference: conv, requantise, then (pool) the int8 maximum of each 2x2 window. */
static void reference(const conv_case *t, const td_conv_params *p, int8_t *out)
{
    const int32_t ho = out_size(t->h, t->pt, t->pb, t->kh, t->sh);
    const int32_t wo = out_size(t->w, t->pl, t->pr, t->kw, t->sw);
    const int32_t k = t->kh * t->kw * t->c;
    int32_t oy, ox, o, ky, kx, ic;
    static int8_t conv[MAX_OUT * 4];
    for (oy = 0; oy < ho; oy++) {
        for (ox = 0; ox < wo; ox++) {
            for (o = 0; o < t->oc; o++) {
                int32_t acc = bias[o];
                for (ky = 0; ky < t->kh; ky++) {
                    for (kx = 0; kx < t->kw; kx++) {
                        const int32_t iy = oy * t->sh - t->pt + ky, ix = ox * t->sw - t->pl + kx;
                        if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w) {
                            continue;
                        }
                        for (ic = 0; ic < t->c; ic++) {
                            acc += w[o * k + (ky * t->kw + kx) * t->c + ic] *
                                   (x[(iy * t->w + ix) * t->c + ic] + p->input_offset);
                        }
                    }
                }
                conv[(oy * wo + ox) * t->oc + o] = td_requant_s8(
                    acc, mult[o], shift[o], p->output_offset, p->activation.min, p->activation.max);
            }
        }
    }
    if (!t->pool) {
        memcpy(out, conv, (size_t)(ho * wo * t->oc));
        return;
    }
    for (oy = 0; oy < ho / 2; oy++) {
        for (ox = 0; ox < wo / 2; ox++) {
            for (o = 0; o < t->oc; o++) {
                int32_t m = -128, dy, dx;
                for (dy = 0; dy < 2; dy++) {
                    for (dx = 0; dx < 2; dx++) {
                        const int32_t v = conv[((2 * oy + dy) * wo + 2 * ox + dx) * t->oc + o];
                        m = v > m ? v : m;
                    }
                }
                out[(oy * (wo / 2) + ox) * t->oc + o] = (int8_t)m;
            }
        }
    }
}

/* Tap word of weight column col (ky, kx, ic) with value v (tdnn_types.h). */
static uint32_t tap(const conv_case *t, int32_t col, int32_t v)
{
    const int32_t band_w = t->w + t->pl + t->pr, ky = col / (t->kw * t->c);
    const int32_t kx = (col / t->c) % t->kw, ic = col % t->c;
    return (uint32_t)((ky * band_w + kx) * t->c + ic) | ((uint32_t)(uint16_t)(int16_t)v << 16);
}

static int run_case(int32_t idx, const conv_case *t)
{
    const int32_t k = t->kh * t->kw * t->c, band_w = t->w + t->pl + t->pr;
    const int32_t ho = out_size(t->h, t->pt, t->pb, t->kh, t->sh);
    const int32_t wo = out_size(t->w, t->pl, t->pr, t->kw, t->sw);
    const int32_t oh = t->pool ? ho / 2 : ho, ow = t->pool ? wo / 2 : wo;
    const int32_t nout = oh * ow * t->oc, groups = (k + t->m - 1) / t->m;
    const int32_t bits = t->m == 2 ? 1 : t->m == 4 ? 2 : t->m == 8 ? 3 : 4;
    const int32_t row_bytes = 4 * ((groups * t->n * bits + 31) / 32);
    td_conv_params p;
    td_quant_params q;
    td_dims in_d, f_d, out_d;
    td_conv_taps tp;
    td_csr_weights csr, slim_csr;
    td_nm_weights nm, slim_nm;
    td_fc_params fcp;
    int32_t i, r, g, s, nnz = 0, size, size_slim, variant;

    p.stride_h = t->sh;
    p.stride_w = t->sw;
    p.pad_top = t->pt;
    p.pad_left = t->pl;
    p.pad_bottom = t->pb;
    p.pad_right = t->pr;
    p.input_offset = rnd(-127, 128);
    p.output_offset = rnd(-20, 20);
    p.activation.min = -128;
    p.activation.max = 127;
    p.fused_maxpool = t->pool;
    q.multiplier = mult;
    q.shift = shift;
    in_d.n = 1, in_d.h = t->h, in_d.w = t->w, in_d.c = t->c;
    f_d.n = t->oc, f_d.h = t->kh, f_d.w = t->kw, f_d.c = t->c;
    out_d.n = 1, out_d.h = oh, out_d.w = ow, out_d.c = t->oc;
    for (i = 0; i < t->h * t->w * t->c; i++) {
        x[i] = (int8_t)rnd(-128, 127);
    }
    for (r = 0; r < t->oc; r++) {
        bias[r] = rnd(-5000, 5000);
        mult[r] = rnd(1 << 30, 0x7FFFFFFF);
        shift[r] = r == 1 ? 1 : rnd(-11, -7); /* one left shift: not monotonic */
    }

    for (variant = 0; variant < 2; variant++) { /* 0: CSR, 1: N:M */
        memset(w, 0, (size_t)(t->oc * k));
        memset(meta, 0, sizeof(meta));
        nnz = 0;
        for (r = 0; r < t->oc; r++) {
            rsum[r] = 0;
            if (variant == 0) {
                rp16[r] = (uint16_t)nnz;
                for (i = 0; i < k; i++) {
                    if (rnd(0, 9) < 3 && r != 2) { /* row 2 empty */
                        w[r * k + i] = (int8_t)rnd(-128, 127);
                        vals[nnz] = w[r * k + i];
                        col8[nnz] = (uint8_t)i;
                        col16[nnz] = (uint16_t)i;
                        taps[nnz++] = tap(t, i, w[r * k + i]);
                        rsum[r] += w[r * k + i];
                    }
                }
                continue;
            }
            for (g = 0; g < groups; g++) { /* n ascending positions per group of m */
                int32_t pos = 0;
                for (s = 0; s < t->n; s++) {
                    const int32_t slot = (r * groups + g) * t->n + s;
                    const int32_t bit = (g * t->n + s) * bits;
                    const int32_t col = g * t->m + pos;
                    const int32_t v = col < k ? rnd(-128, 127) : 0;
                    pos += rnd(1, (t->m - pos) / (t->n - s));
                    if (col < k) {
                        w[r * k + col] = (int8_t)v;
                    }
                    vals[slot] = (int8_t)v;
                    taps[slot] = col < k ? tap(t, col, v) : 0u;
                    rsum[r] += v;
                    meta[r * row_bytes + bit / 8] |= (uint8_t)((col - g * t->m) << (bit % 8));
                    if (bit % 8 + bits > 8) {
                        meta[r * row_bytes + bit / 8 + 1] |=
                            (uint8_t)((col - g * t->m) >> (8 - bit % 8));
                    }
                }
            }
        }
        rp16[t->oc] = (uint16_t)nnz;
        reference(t, &p, want);
        tp.band_w = band_w;
        tp.in_c = t->c;
        tp.entries = variant == 0 ? nnz : t->oc * groups * t->n;
        tp.taps = taps;

        memset(&csr, 0, sizeof(csr));
        csr.rows = t->oc;
        csr.cols = k;
        csr.nnz = nnz;
        csr.values = vals;
        csr.col_idx_u8 = k <= 256 ? col8 : NULL;
        csr.col_idx_u16 = k <= 256 ? NULL : col16;
        csr.row_ptr_u16 = rp16;
        csr.row_sum = rsum;
        slim_csr = csr;
        slim_csr.values = NULL;
        slim_csr.col_idx_u8 = NULL;
        slim_csr.col_idx_u16 = NULL;
        slim_csr.col_delta_u8 = NULL;
        nm.rows = t->oc;
        nm.cols = k;
        nm.n = t->n;
        nm.m = t->m;
        nm.meta_row_bytes = row_bytes;
        nm.values = vals;
        nm.meta = meta;
        nm.row_sum = rsum;
        slim_nm = nm;
        slim_nm.values = NULL;
        slim_nm.meta = NULL;
        slim_nm.meta_row_bytes = 0;

        for (s = 0; s < 2; s++) { /* 0: full descriptor, 1: slim */
            td_status st;
            if (variant == 0) {
                size = td_conv_csr_s8_get_buffer_size(&p, &in_d, &f_d, &csr);
                size_slim = td_conv_csr_s8_get_buffer_size(&p, &in_d, &f_d, &slim_csr);
            } else {
                size = td_conv_nm_s8_get_buffer_size(&p, &in_d, &f_d, &nm);
                size_slim = td_conv_nm_s8_get_buffer_size(&p, &in_d, &f_d, &slim_nm);
            }
            checks++;
            if (size != size_slim || size > MAX_SCRATCH) {
                return fail(variant ? "nm buffer size" : "csr buffer size", idx);
            }
            memset(got, 0x55, sizeof(got));
            st = variant == 0 ? td_conv_csr_s8(&p, &q, &in_d, x, &f_d, s ? &slim_csr : &csr, &tp,
                                               bias, &out_d, got, scratch)
                              : td_conv_nm_s8(&p, &q, &in_d, x, &f_d, s ? &slim_nm : &nm, &tp, bias,
                                              &out_d, got, scratch);
            checks++;
            if (st != TD_OK) {
                return fail(variant ? (s ? "nm slim status" : "nm status")
                                    : (s ? "csr slim status" : "csr status"),
                            idx);
            }
            checks++;
            if (memcmp(got, want, (size_t)nout) != 0) {
                return fail(variant ? (s ? "nm slim output" : "nm output")
                                    : (s ? "csr slim output" : "csr output"),
                            idx);
            }
        }
        /* fully connected reads values, columns and metadata: slim descriptors are errors */
        fcp.input_offset = 0;
        fcp.output_offset = 0;
        fcp.activation.min = -128;
        fcp.activation.max = 127;
        checks++;
        if ((variant == 0 && (nnz == 0 || td_fc_csr_s8(&fcp, &q, k, x, t->oc, &slim_csr, bias, got,
                                                       scratch) != TD_ERR_ARG)) ||
            (variant == 1 &&
             td_fc_nm_s8(&fcp, &q, k, x, t->oc, &slim_nm, bias, got, scratch) != TD_ERR_ARG)) {
            return fail(variant ? "fc nm accepted a slim descriptor"
                                : "fc csr accepted a slim descriptor",
                        idx);
        }
    }
    return 0;
}

int main(void)
{
    int32_t i;
    for (i = 0; i < (int32_t)(sizeof(CASES) / sizeof(CASES[0])); i++) {
        if (run_case(i, &CASES[i])) {
            return 1;
        }
    }
    say("slim-conv: ");
    say_int(checks);
    say(" checks passed\n");
    return 0;
}
