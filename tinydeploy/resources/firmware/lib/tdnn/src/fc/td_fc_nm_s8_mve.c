/* Fully connected, N:M weights, Helium (MVE) path. m = 2, 4, 16 (1, 2 or 4 bits per slot):
 * 8 slots per step in 16-bit lanes: their b bytes of metadata are read once (LDRB/LDRH/LDR,
 * exactly the bytes they occupy) and duplicated into every lane, a per-lane VSHL + VAND
 * extracts each slot's in-group position, VADD of the slot's group column (a table built
 * once per call in scratch, 2 bytes per slot; the group pattern is the same for every row)
 * gives its input column, clamped to K - 1 for padding slots (value 0), then one gather of
 * the 8 inputs (VLDRB.S16, u16 offsets), the 8 values and one VMLADAVA.S16. With 4-bit slots
 * the 32-bit word is duplicated instead, lanes alternating its low and high half: lane
 * 2j = slot j, lane 2j + 1 = slot j + 4 (the table and a value gather use the same order).
 * m = 8 (3-bit slots would straddle 16-bit lanes): 4 slots per 32-bit-lane vector (nm_row_3).
 * The input offset is folded through row_sum; 4 rows are requantised per vector.
 * Returns 0 (generic path) when the table does not fit the caller's scratch. */
#include "../common/td_mve.h"
#include "td_fc_internal.h"

#if defined(__ARM_FEATURE_MVE)

/* The positions of 8 slots from their metadata bytes at meta (see above). */
static inline uint16x8_t nm_pos(const uint8_t *meta, int32_t bits, uint16x8_t shneg,
                                uint16x8_t mask)
{
    uint16x8_t pos;
    if (bits == 4) {
        pos = vreinterpretq_u16_u32(vdupq_n_u32(td_read_u32(meta)));
    } else if (bits == 2) {
        pos = vdupq_n_u16((uint16_t)((uint32_t)meta[0] | (uint32_t)meta[1] << 8));
    } else {
        pos = vdupq_n_u16((uint16_t)meta[0]);
    }
    return vandq_u16(vshlq_u16(pos, vreinterpretq_s16_u16(shneg)), mask);
}

static inline __attribute__((always_inline)) int32_t
nm_row(const int8_t *x, const int8_t *v, const uint8_t *meta, const uint16_t *gcol, int32_t slots,
       int32_t bits, uint16x8_t shneg, uint16x8_t mask, uint16x8_t kmax, uint16x8_t perm)
{
    int32_t acc = 0, s;
    for (s = 0; s + 8 <= slots; s += 8, meta += bits) {
        const uint16x8_t col =
            vminq_u16(vaddq_u16(nm_pos(meta, bits, shneg, mask), vldrhq_u16(gcol + s)), kmax);
        const int16x8_t wv = bits == 4 ? vldrbq_gather_offset_s16(v + s, perm) : vldrbq_s16(v + s);
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_s16(x, col), wv);
    }
    if (s < slots) { /* last slots: lanes of slots past the row predicated off */
        const mve_pred16_t p = bits == 4 ? vcmphiq_u16(vdupq_n_u16((uint16_t)(slots - s)), perm)
                                         : vctp16q((uint32_t)(slots - s));
        const uint16x8_t col =
            vminq_u16(vaddq_u16(nm_pos(meta, bits, shneg, mask), vldrhq_u16(gcol + s)), kmax);
        const int16x8_t wv =
            bits == 4 ? vldrbq_gather_offset_z_s16(v + s, perm, p) : vldrbq_z_s16(v + s, p);
        acc = vmladavaq_s16(acc, vldrbq_gather_offset_z_s16(x, col, p), wv);
    }
    return acc;
}

/* m = 8 (3-bit slots): 8 slots = 3 metadata bytes, as two 4-slot halves in 32-bit lanes
 * (shifts 3 * slot, VLDRB.S32 gathers with u32 offsets, VMLADAVA.S32). The group columns
 * come from the same u16 table (widened on load). */
static int32_t nm_row_3(const int8_t *x, const int8_t *v, const uint8_t *meta, const uint16_t *gcol,
                        int32_t slots, uint32x4_t kmax32)
{
    const uint32x4_t sh_lo = vmulq_n_u32(vidupq_n_u32(0, 1), 3);
    const int32x4_t neg_lo = vnegq_s32(vreinterpretq_s32_u32(sh_lo));
    const int32x4_t neg_hi = vsubq_s32(neg_lo, vdupq_n_s32(12));
    const uint32x4_t mask = vdupq_n_u32(7);
    int32_t acc = 0, s;
    for (s = 0; s + 8 <= slots; s += 8, meta += 3) {
        const uint32x4_t wv =
            vdupq_n_u32((uint32_t)meta[0] | (uint32_t)meta[1] << 8 | (uint32_t)meta[2] << 16);
        uint32x4_t col = vandq_u32(vshlq_u32(wv, neg_lo), mask);
        col = vminq_u32(vaddq_u32(col, vldrhq_u32(gcol + s)), kmax32);
        acc = vmladavaq_s32(acc, vldrbq_gather_offset_s32(x, col), vldrbq_s32(v + s));
        col = vandq_u32(vshlq_u32(wv, neg_hi), mask);
        col = vminq_u32(vaddq_u32(col, vldrhq_u32(gcol + s + 4)), kmax32);
        acc = vmladavaq_s32(acc, vldrbq_gather_offset_s32(x, col), vldrbq_s32(v + s + 4));
    }
    if (s < slots) { /* last slots, only the metadata bytes they use, lanes predicated */
        const int32_t nb = (3 * (slots - s) + 7) / 8;
        const uint32x4_t wv =
            vdupq_n_u32((uint32_t)meta[0] | (nb > 1 ? (uint32_t)meta[1] << 8 : 0u) |
                        (nb > 2 ? (uint32_t)meta[2] << 16 : 0u));
        const mve_pred16_t p0 = vctp32q((uint32_t)(slots - s));
        const mve_pred16_t p1 = vctp32q((uint32_t)(slots - s > 4 ? slots - s - 4 : 0));
        uint32x4_t col = vandq_u32(vshlq_u32(wv, neg_lo), mask);
        col = vminq_u32(vaddq_u32(col, vldrhq_u32(gcol + s)), kmax32);
        acc = vmladavaq_s32(acc, vldrbq_gather_offset_z_s32(x, col, p0), vldrbq_z_s32(v + s, p0));
        col = vandq_u32(vshlq_u32(wv, neg_hi), mask);
        col = vminq_u32(vaddq_u32(col, vldrhq_u32(gcol + s + 4)), kmax32);
        acc =
            vmladavaq_s32(acc, vldrbq_gather_offset_z_s32(x, col, p1), vldrbq_z_s32(v + s + 4, p1));
    }
    return acc;
}

/* nm_row with the slot width a constant (no per-step branch on it). */
#define TD_NM_ROW(B)                                                                               \
    static int32_t nm_row_##B(const int8_t *x, const int8_t *v, const uint8_t *meta,               \
                              const uint16_t *gcol, int32_t slots, uint16x8_t shneg,               \
                              uint16x8_t mask, uint16x8_t kmax, uint16x8_t perm)                   \
    {                                                                                              \
        return nm_row(x, v, meta, gcol, slots, B, shneg, mask, kmax, perm);                        \
    }
TD_NM_ROW(1)
TD_NM_ROW(2)
TD_NM_ROW(4)

int32_t td_fc_nm_s8_mve(const td_fc_params *params, const td_quant_params *quant,
                        int32_t in_features, const int8_t *input, int32_t out_features,
                        const td_nm_weights *w, int32_t bits, int32_t groups, const int32_t *bias,
                        int8_t *output, void *scratch)
{
    const int32_t n = w->n, m = w->m, slots = groups * n, padded = (slots + 7) & ~7;
    const int32_t ooff = params->output_offset;
    const int32_t amin = params->activation.min, amax = params->activation.max;
    static const uint16_t perm_lanes[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    uint16_t shifts[8];
    uint16_t *gcol = (uint16_t *)td_align_ptr4(scratch);
    uint16x8_t shneg, perm, mask, kmax;
    uint32x4_t kmax32;
    int32_t acc[4] = {0, 0, 0, 0}, o, s, i;
    if (slots > 65535 || in_features > 65535 || /* u16 columns and table */
        3 + 2 * padded > td_fc_nm_s8_get_buffer_size(in_features, w)) {
        return 0;
    }
    for (i = 0; i < 8; i++) { /* lane i holds slot perm[i] (4-bit) or slot i */
        const int32_t slot = bits == 4 ? perm_lanes[i] : i;
        shifts[i] = (uint16_t)(-(bits == 4 ? 4 * (slot & 3) : bits * slot));
    }
    for (s = 0; s < padded; s += 8) { /* group column of every slot, in lane order */
        for (i = 0; i < 8; i++) {
            const int32_t slot = s + (bits == 4 ? perm_lanes[i] : i);
            gcol[s + i] = (uint16_t)(slot < slots ? (slot / n) * m : 0);
        }
    }
    shneg = vldrhq_u16(shifts);
    perm = vldrhq_u16(perm_lanes);
    mask = vdupq_n_u16((uint16_t)((1u << bits) - 1u));
    kmax = vdupq_n_u16((uint16_t)(in_features - 1));
    kmax32 = vdupq_n_u32((uint32_t)(in_features - 1));
    for (o = 0; o < out_features; o += 4) {
        const int32_t cnt = out_features - o < 4 ? out_features - o : 4;
        const mve_pred16_t p = vctp32q((uint32_t)cnt);
        int32_t r;
        for (r = 0; r < cnt; r++) {
            const int8_t *v = w->values + (o + r) * slots;
            const uint8_t *meta = w->meta + (o + r) * w->meta_row_bytes;
            acc[r] = bits == 3   ? nm_row_3(input, v, meta, gcol, slots, kmax32)
                     : bits == 1 ? nm_row_1(input, v, meta, gcol, slots, shneg, mask, kmax, perm)
                     : bits == 2 ? nm_row_2(input, v, meta, gcol, slots, shneg, mask, kmax, perm)
                                 : nm_row_4(input, v, meta, gcol, slots, shneg, mask, kmax, perm);
        }
        td_mve_fc_store(acc, vldrwq_z_s32(w->row_sum + o, p), params->input_offset, bias,
                        quant->multiplier, quant->shift, o, p, ooff, amin, amax, output);
    }
    return 1;
}

#else
typedef int td_fc_nm_s8_mve_unused; /* ISO C: no empty translation unit */
#endif /* __ARM_FEATURE_MVE */
