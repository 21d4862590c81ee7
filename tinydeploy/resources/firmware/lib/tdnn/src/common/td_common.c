/* Shared argument checks, the exported requantisation helper and the conv input band. */
#include "td_internal.h"

int32_t td_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    return td_mul_by_quant_mult(acc, multiplier, shift);
}

td_status td_requantize_block_s8(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                                 int32_t output_offset, const td_activation *activation,
                                 int8_t *output)
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
        params->input_offset > 128 || params->output_offset < -128 || params->output_offset > 127 ||
        td_internal_check_act(&params->activation) != TD_OK ||
        (params->fused_maxpool != 0 && params->fused_maxpool != 1)) {
        return TD_ERR_ARG;
    }
    *conv_h = td_conv_out_size(input_dims->h, params->pad_top, params->pad_bottom, filter_dims->h,
                               params->stride_h);
    *conv_w = td_conv_out_size(input_dims->w, params->pad_left, params->pad_right, filter_dims->w,
                               params->stride_w);
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

const int8_t *td_internal_band(const td_conv_params *params, const td_dims *input_dims,
                               const int8_t *input, int32_t iy0, int32_t nrows, int8_t *band)
{
    const int32_t c = input_dims->c, row = input_dims->w * c;
    const int32_t left = params->pad_left * c, right = params->pad_right * c;
    const int32_t wp = left + row + right;
    const int zp = (int8_t)(-params->input_offset);
    int8_t *dst = band;
    int32_t b;
    if (left == 0 && right == 0 && iy0 >= 0 && iy0 + nrows <= input_dims->h) {
        return input + iy0 * row;
    }
    for (b = 0; b < nrows; b++, dst += wp) {
        const int32_t iy = iy0 + b;
        if (iy < 0 || iy >= input_dims->h) {
            memset(dst, zp, (size_t)wp);
            continue;
        }
        if (left) {
            memset(dst, zp, (size_t)left);
        }
        memcpy(dst + left, input + iy * row, (size_t)row);
        if (right) {
            memset(dst + left + row, zp, (size_t)right);
        }
    }
    return band;
}

/* The N:M structure every kernel reads: dims, n, m (its log2 and the group count G) and
 * row_sum; values, meta and meta_row_bytes are checked by td_internal_check_nm. */
static inline td_status check_nm_rows(const td_nm_weights *w, int32_t rows, int32_t cols,
                                      int32_t *bits, int32_t *groups)
{
    int32_t b = 0;
    if (!w || !w->row_sum || w->rows != rows || w->cols != cols || cols < 1) {
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
    return TD_OK;
}

td_status td_internal_check_nm_rows(const td_nm_weights *w, int32_t rows, int32_t cols,
                                    int32_t *bits, int32_t *groups)
{
    return check_nm_rows(w, rows, cols, bits, groups);
}

td_status td_internal_check_nm(const td_nm_weights *w, int32_t rows, int32_t cols, int32_t *bits,
                               int32_t *groups)
{
    if (check_nm_rows(w, rows, cols, bits, groups) != TD_OK || !w->values || !w->meta ||
        w->meta_row_bytes != 4 * ((*groups * w->n * *bits + 31) / 32)) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

/* The CSR row structure every kernel reads: dims, nnz, the one row-pointer array nnz
 * allows (TD_VALIDATE_INDICES: non-decreasing) and row_sum. */
static inline td_status check_csr_rows(const td_csr_weights *w, int32_t rows, int32_t cols)
{
    if (!w || w->rows != rows || w->cols != cols || w->nnz < 0 || cols < 1 || !w->row_sum) {
        return TD_ERR_ARG;
    }
    if ((w->nnz <= 65535) ? (!w->row_ptr_u16 || w->row_ptr_u32)
                          : (w->row_ptr_u16 || !w->row_ptr_u32)) {
        return TD_ERR_ARG;
    }
    if (td_csr_row_ptr(w, 0) != 0 || td_csr_row_ptr(w, rows) != (uint32_t)w->nnz) {
        return TD_ERR_ARG;
    }
#if defined(TD_VALIDATE_INDICES)
    /* O(rows + nnz) descriptor checks: generated descriptors are valid by construction, so
     * targets skip them per invocation (like TFLM, which validates in Prepare, not Invoke) */
    {
        int32_t r;
        for (r = 0; r < rows; r++) {
            if (td_csr_row_ptr(w, r + 1) < td_csr_row_ptr(w, r)) {
                return TD_ERR_ARG;
            }
        }
    }
#endif
    return TD_OK;
}

td_status td_internal_check_csr_rows(const td_csr_weights *w, int32_t rows, int32_t cols)
{
    return check_csr_rows(w, rows, cols);
}

td_status td_internal_check_csr(const td_csr_weights *w, int32_t rows, int32_t cols)
{
    if (check_csr_rows(w, rows, cols) != TD_OK) {
        return TD_ERR_ARG;
    }
    if (w->col_delta_u8 ? (w->col_idx_u8 || w->col_idx_u16)
                        : ((cols <= 256) ? (!w->col_idx_u8 || w->col_idx_u16)
                                         : (w->col_idx_u8 || !w->col_idx_u16))) {
        return TD_ERR_ARG; /* exactly one column representation, the one K allows */
    }
    if (w->nnz > 0 && !w->values) {
        return TD_ERR_ARG;
    }
#if defined(TD_VALIDATE_INDICES)
    if (w->col_delta_u8) {
        int32_t r;
        uint32_t j;
        for (r = 0; r < rows; r++) {
            int32_t col = 0;
            for (j = td_csr_row_ptr(w, r); j < td_csr_row_ptr(w, r + 1); j++) {
                col += w->col_delta_u8[j];
                if (col >= cols) {
                    return TD_ERR_ARG;
                }
            }
        }
    } else {
        uint32_t j;
        for (j = 0; j < (uint32_t)w->nnz; j++) {
            if (td_csr_col(w, j) >= cols) {
                return TD_ERR_ARG;
            }
        }
    }
#endif
    return TD_OK;
}
