/* Shared argument checks, the exported requantisation helper and sparse-conv plumbing. */
#include "td_internal.h"

int32_t td_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    return td_mul_by_quant_mult(acc, multiplier, shift);
}

td_status td_requantize_block_s8(const int32_t *acc, int32_t n, int32_t multiplier,
                                 int32_t shift, int32_t output_offset,
                                 const td_activation *activation, int8_t *output)
{
    if (!acc || !activation || !output || n < 0 || shift < -31 || shift > 30 ||
        td_internal_check_act(activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    td_requant_channel_s8(acc, n, multiplier, shift, output_offset, activation->min,
                          activation->max, output, 1);
    return TD_OK;
}

td_status td_internal_check_act(const td_activation *act)
{
    if (act->min < -128 || act->max > 127 || act->min > act->max) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

td_status td_internal_check_conv(const td_conv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const void *input,
                                 const td_dims *filter_dims, const td_dims *output_dims,
                                 const void *output, int32_t *conv_h, int32_t *conv_w)
{
    int32_t ph, pw;
    if (!params || !quant || !quant->multiplier || !quant->shift || !input_dims || !input ||
        !filter_dims || !output_dims || !output) {
        return TD_ERR_ARG;
    }
    if (input_dims->n != 1 || output_dims->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    if (params->stride_h < 1 || params->stride_w < 1 || params->pad_top < 0 ||
        params->pad_left < 0 || params->pad_bottom < 0 || params->pad_right < 0 ||
        input_dims->h < 1 || input_dims->w < 1 || input_dims->c < 1 || filter_dims->n < 1 ||
        filter_dims->h < 1 || filter_dims->w < 1 || filter_dims->c != input_dims->c ||
        output_dims->c != filter_dims->n || params->input_offset < -127 ||
        params->input_offset > 128 || params->output_offset < -128 ||
        params->output_offset > 127 || td_internal_check_act(&params->activation) != TD_OK ||
        (params->fused_maxpool != 0 && params->fused_maxpool != 1)) {
        return TD_ERR_ARG;
    }
    *conv_h = td_conv_out_size(input_dims->h, params->pad_top, params->pad_bottom,
                               filter_dims->h, params->stride_h);
    *conv_w = td_conv_out_size(input_dims->w, params->pad_left, params->pad_right,
                               filter_dims->w, params->stride_w);
    if (*conv_h < 1 || *conv_w < 1) {
        return TD_ERR_ARG;
    }
    ph = params->fused_maxpool ? *conv_h / 2 : *conv_h;
    pw = params->fused_maxpool ? *conv_w / 2 : *conv_w;
    if (output_dims->h != ph || output_dims->w != pw || ph < 1 || pw < 1) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

void td_internal_pad_input(const td_conv_params *params, const td_dims *input_dims,
                           const int8_t *input, int8_t *padded)
{
    const int32_t c = input_dims->c;
    const int32_t wp = input_dims->w + params->pad_left + params->pad_right;
    const int32_t hp = input_dims->h + params->pad_top + params->pad_bottom;
    const int32_t row_bytes = input_dims->w * c;
    int32_t y;
    memset(padded, (int8_t)(-params->input_offset), (size_t)(hp * wp * c));
    for (y = 0; y < input_dims->h; y++) {
        memcpy(padded + ((y + params->pad_top) * wp + params->pad_left) * c,
               input + y * row_bytes, (size_t)row_bytes);
    }
}

/* Dot products of one sparse row with up to 4 receptive fields at once. */
static inline void sparse_row4(const uint16_t *off, const int8_t *val, int32_t count,
                               const int8_t *b0, const int8_t *b1, const int8_t *b2,
                               const int8_t *b3, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t j;
    for (j = 0; j < count; j++) {
        const int32_t o = off[j];
        const int32_t v = val[j];
        a0 += v * b0[o];
        a1 += v * b1[o];
        a2 += v * b2[o];
        a3 += v * b3[o];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static inline int32_t sparse_row1(const uint16_t *off, const int8_t *val, int32_t count,
                                  const int8_t *b0, int32_t a0)
{
    int32_t j = 0;
    for (; j + 4 <= count; j += 4) {
        a0 += val[j] * b0[off[j]];
        a0 += val[j + 1] * b0[off[j + 1]];
        a0 += val[j + 2] * b0[off[j + 2]];
        a0 += val[j + 3] * b0[off[j + 3]];
    }
    for (; j < count; j++) {
        a0 += val[j] * b0[off[j]];
    }
    return a0;
}

td_status td_internal_sparse_conv_run(const td_sparse_conv_plan *plan,
                                      const td_conv_params *params,
                                      const td_quant_params *quant, int32_t conv_h,
                                      int32_t conv_w, int8_t *output)
{
    const int32_t rows = plan->rows;
    const int32_t c = plan->in_c;
    const int32_t sy = params->stride_h * plan->padded_w * c;
    const int32_t sx = params->stride_w * c;
    const int32_t omin = params->activation.min, omax = params->activation.max;
    const int32_t ooff = params->output_offset;
    const int32_t *mult = quant->multiplier, *shift = quant->shift;
    int32_t *acc = plan->acc;
    int32_t r;

    if (params->fused_maxpool) {
        const int32_t ph = conv_h / 2, pw = conv_w / 2;
        int32_t py, px;
        for (py = 0; py < ph; py++) {
            for (px = 0; px < pw; px++) {
                const int8_t *b0 = plan->padded + (2 * py) * sy + (2 * px) * sx;
                const int8_t *b2 = b0 + sy;
                int8_t *out = output + (py * pw + px) * rows;
                for (r = 0; r < rows; r++) {
                    const uint32_t s = plan->row_ptr[r];
                    int32_t a[4];
                    a[0] = a[1] = a[2] = a[3] = plan->beff[r];
                    sparse_row4(plan->offsets + s, plan->values + s,
                                (int32_t)(plan->row_ptr[r + 1] - s), b0, b0 + sx, b2, b2 + sx,
                                a);
                    if (mult[r] >= 0 && shift[r] <= 0) { /* monotonic: max first */
                        int32_t m = a[0] > a[1] ? a[0] : a[1];
                        m = a[2] > m ? a[2] : m;
                        m = a[3] > m ? a[3] : m;
                        out[r] = td_requant_s8(m, mult[r], shift[r], ooff, omin, omax);
                    } else {
                        int32_t best = -128, k;
                        for (k = 0; k < 4; k++) {
                            const int32_t q =
                                td_requant_s8(a[k], mult[r], shift[r], ooff, omin, omax);
                            best = q > best ? q : best;
                        }
                        out[r] = (int8_t)best;
                    }
                }
            }
        }
    } else {
        const int32_t npos = conv_h * conv_w;
        const int8_t *base[TD_SPARSE_BATCH];
        int32_t p, k;
        for (p = 0; p < npos; p += TD_SPARSE_BATCH) {
            const int32_t cnt = npos - p < TD_SPARSE_BATCH ? npos - p : TD_SPARSE_BATCH;
            for (k = 0; k < cnt; k++) {
                const int32_t q = p + k;
                base[k] = plan->padded + (q / conv_w) * sy + (q % conv_w) * sx;
            }
            for (r = 0; r < rows; r++) {
                const uint32_t s = plan->row_ptr[r];
                const int32_t n = (int32_t)(plan->row_ptr[r + 1] - s);
                int32_t *a = acc + r * TD_SPARSE_BATCH;
                for (k = 0; k + 4 <= cnt; k += 4) {
                    a[k] = a[k + 1] = a[k + 2] = a[k + 3] = plan->beff[r];
                    sparse_row4(plan->offsets + s, plan->values + s, n, base[k], base[k + 1],
                                base[k + 2], base[k + 3], a + k);
                }
                for (; k < cnt; k++) {
                    a[k] = sparse_row1(plan->offsets + s, plan->values + s, n, base[k],
                                       plan->beff[r]);
                }
            }
            for (r = 0; r < rows; r++) {
                td_requant_channel_s8(acc + r * TD_SPARSE_BATCH, cnt, mult[r], shift[r], ooff,
                                      omin, omax, output + p * rows + r, rows);
            }
        }
    }
    return TD_OK;
}

td_status td_internal_check_nm(const td_nm_weights *w, int32_t rows, int32_t cols,
                               int32_t *bits, int32_t *groups)
{
    int32_t b = 0;
    if (!w || !w->values || !w->meta || w->rows != rows || w->cols != cols || cols < 1) {
        return TD_ERR_ARG;
    }
    switch (w->m) {
    case 2: b = 1; break;
    case 4: b = 2; break;
    case 8: b = 3; break;
    case 16: b = 4; break;
    default: return TD_ERR_ARG;
    }
    if (w->n < 1 || w->n >= w->m) {
        return TD_ERR_ARG;
    }
    *groups = (cols + w->m - 1) / w->m;
    *bits = b;
    if (w->meta_row_bytes != 4 * ((*groups * w->n * b + 31) / 32)) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

td_status td_internal_check_csr(const td_csr_weights *w, int32_t rows, int32_t cols)
{
    int32_t r;
    uint32_t j;
    if (!w || w->rows != rows || w->cols != cols || w->nnz < 0 || cols < 1) {
        return TD_ERR_ARG;
    }
    if ((cols <= 256) ? (!w->col_idx_u8 || w->col_idx_u16) : (w->col_idx_u8 || !w->col_idx_u16)) {
        return TD_ERR_ARG;
    }
    if ((w->nnz <= 65535) ? (!w->row_ptr_u16 || w->row_ptr_u32)
                          : (w->row_ptr_u16 || !w->row_ptr_u32)) {
        return TD_ERR_ARG;
    }
    if (w->nnz > 0 && !w->values) {
        return TD_ERR_ARG;
    }
    if (td_csr_row_ptr(w, 0) != 0 || td_csr_row_ptr(w, rows) != (uint32_t)w->nnz) {
        return TD_ERR_ARG;
    }
    for (r = 0; r < rows; r++) {
        if (td_csr_row_ptr(w, r + 1) < td_csr_row_ptr(w, r)) {
            return TD_ERR_ARG;
        }
    }
#if defined(TD_VALIDATE_INDICES)
    for (j = 0; j < (uint32_t)w->nnz; j++) {
        if (td_csr_col(w, j) >= cols) {
            return TD_ERR_ARG;
        }
    }
#else
    (void)j;
#endif
    return TD_OK;
}
