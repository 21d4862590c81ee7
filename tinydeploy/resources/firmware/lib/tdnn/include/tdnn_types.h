/*
 * tdnn_types.h - shared descriptor structs of the tdnn int8 kernel library.
 *
 * This header is a contract with the C generator (codegen emits initialisers for these
 * structs). Every field has exactly one meaning. Layouts:
 *   activations  int8 NHWC, batch (n) must be 1
 *   conv weights int8 OHWI [out_c][kh][kw][in_c]; a "row" = one output channel, the
 *                flattened (ky, kx, ic) vector of length K = kh*kw*in_c, ic fastest
 *   fc weights   int8 [out][in]; a row = one output neuron, K = in
 *   bias         int32 per output channel (may be NULL = all zero)
 * Requantisation per output channel is TFLite Micro's (gemmlowp double rounding).
 */
#ifndef TDNN_TYPES_H
#define TDNN_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status returned by every kernel. */
typedef enum {
    TD_OK = 0,
    TD_ERR_ARG = -1,         /* invalid argument, inconsistent dims or descriptor */
    TD_ERR_UNSUPPORTED = -2  /* valid but not implemented (e.g. batch > 1) */
} td_status;

/* Tensor dims. Activations: n=1, h, w, c. Conv filter (OHWI): n=out_c, h=kh, w=kw, c=in_c. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} td_dims;

/* Activation clamp applied after adding the output offset, int8 range [-128, 127].
 * Fused ReLU: min = output zero point. */
typedef struct {
    int32_t min;
    int32_t max;
} td_activation;

/* Per-output-channel requantisation: real scale ~= multiplier * 2^(shift - 31).
 * multiplier: Q31, >= 0 (0 allowed, gives output_offset). shift: > 0 left shift,
 * <= 0 right shift, legal range [-31, 30]. Both arrays have one entry per output channel. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} td_quant_params;

/* 2-D convolution (dense, CSR and N:M kernels share it). */
typedef struct {
    int32_t stride_h;        /* >= 1 */
    int32_t stride_w;        /* >= 1 */
    int32_t pad_top;         /* explicit padding, >= 0: SAME and VALID both expressible */
    int32_t pad_left;
    int32_t pad_bottom;
    int32_t pad_right;
    int32_t input_offset;    /* -input_zero_point, in [-127, 128] */
    int32_t output_offset;   /* output_zero_point, in [-128, 127] */
    td_activation activation;
    int32_t fused_maxpool;   /* 0: none; 1: 2x2 stride-2 max-pool of the conv output
                                (floor: pooled = conv/2, like TFLM MAX_POOL_2D VALID) */
} td_conv_params;

/* Depthwise convolution. Filter dims: n=1, h=kh, w=kw, c=in_c*depth_multiplier
 * (TFLM layout [1][kh][kw][out_c]), output channel oc = ic*depth_multiplier + m. */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t pad_bottom;
    int32_t pad_right;
    int32_t depth_multiplier;  /* >= 1 */
    int32_t input_offset;
    int32_t output_offset;
    td_activation activation;
} td_dwconv_params;

/* Fully connected. */
typedef struct {
    int32_t input_offset;    /* -input_zero_point */
    int32_t output_offset;   /* output_zero_point */
    td_activation activation;
} td_fc_params;

/* Max / average pooling (TFLM semantics: padded cells are excluded from the window). */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t filter_h;
    int32_t filter_w;
    int32_t pad_top;         /* output (oy, ox) window starts at oy*stride_h - pad_top */
    int32_t pad_left;
    td_activation activation;
} td_pool_params;

/* Elementwise int8 ADD, TFLM quantized-add arithmetic:
 *   a = (x1 + input1_offset) << left_shift, scaled by (input1_multiplier, input1_shift)
 *   b likewise; out = requant(a + b, output_multiplier, output_shift) + output_offset.
 * input*_shift and output_shift are <= 0 (right shifts), as TFLM computes them. */
typedef struct {
    int32_t input1_offset;
    int32_t input1_multiplier;
    int32_t input1_shift;
    int32_t input2_offset;
    int32_t input2_multiplier;
    int32_t input2_shift;
    int32_t left_shift;      /* TFLM uses 20 for int8 */
    int32_t output_offset;
    int32_t output_multiplier;
    int32_t output_shift;
    td_activation activation;
    /* Optional (both or neither; NULL: computed per element): the rescaled inputs,
     * inputN_table[u] = 2 * MultiplyByQuantizedMultiplier(((int8_t)u + inputN_offset) <<
     * left_shift, inputN_multiplier, inputN_shift) for u = 0..255 (the input byte as
     * uint8), exactly what td_add_s8_fill_tables writes. */
    const int32_t *input1_table;
    const int32_t *input2_table;
    /* With the tables, how the output step rounds a sum exactly halfway between two outputs
     * (TD_ADD_TIES_*; 0 when unsure): TFLM rounds such ties away from zero, which costs a sign
     * test per element. UP / DOWN skip it and are exact only when no input pair gives a
     * negative / positive tie: the C generator checks all 65,536 pairs before choosing one. */
    int32_t table_ties;
} td_add_params;

/* td_add_params.table_ties */
#define TD_ADD_TIES_EXACT 0 /* TFLM's rounding, always valid */
#define TD_ADD_TIES_UP 1    /* every tie up: valid when no negative sum is a tie */
#define TD_ADD_TIES_DOWN 2  /* every tie down: valid when no positive sum is a tie */

/* int8 SOFTMAX over the last axis, TFLM's reference arithmetic (output scale 1/256, zero
 * point -128). TFLM prepares the three fields from beta and the input scale:
 * (input_multiplier, input_left_shift) = QuantizeMultiplier(beta * input_scale * 2^26),
 * diff_min = -floor(31 * 2^26 / 2^input_left_shift). Per row, input differences
 * d = x - max(x) with d >= diff_min take part, the others output -128. */
typedef struct {
    int32_t input_multiplier;  /* Q31, >= 0 */
    int32_t input_left_shift;  /* [0, 31] */
    int32_t diff_min;          /* <= 0 */
} td_softmax_params;

/* ---- PAD, MEAN ---- */

/* Constant PAD of an int8 NHWC tensor (batch 1, never padded): (before, after) cells per
 * dim; every padded cell holds pad_value (TFLM: the output zero point for PAD, the constant
 * for PADV2). Output dims: h + pad_top + pad_bottom, w + pad_left + pad_right,
 * c + pad_front + pad_back. */
typedef struct {
    int32_t pad_top;
    int32_t pad_bottom;
    int32_t pad_left;
    int32_t pad_right;
    int32_t pad_front;       /* channels before the input's */
    int32_t pad_back;        /* channels after the input's */
    int32_t pad_value;       /* int8 */
} td_pad_params;

/* MEAN over H and W of an int8 NHWC tensor (global average pooling), TFLM's int8 MEAN.
 * Per channel, S = the int32 sum of the h*w raw int8 values, count = h*w:
 *   out = clamp(MultiplyByQuantizedMultiplier(S + input_offset * count, multiplier, shift)
 *               + output_offset, -128, 127),
 * where (multiplier, shift) already include 1/count as TFLM adapts them (QuantizeMultiplier
 * of s_in / s_out, then k = min(floor(log2 count), 32, 31 + shift), multiplier =
 * (multiplier << k) / count, shift -= k; tinydeploy/ir/ops/mean.py). */
typedef struct {
    int32_t input_offset;    /* -input_zero_point */
    int32_t multiplier;      /* Q31, >= 0 */
    int32_t shift;           /* [-31, 30] */
    int32_t output_offset;   /* output_zero_point */
} td_mean_params;

/* CSR weights, rows = output channels, cols = K.
 * Row r holds values[row_ptr[r] .. row_ptr[r+1]) at columns col_idx[...] (ascending is
 * recommended, not required). Empty rows allowed.
 * Exactly one column-index array is set:  col_idx_u8  when cols <= 256,
 *                                         col_idx_u16 when cols >  256,
 *                                         or col_delta_u8 (any cols; fully connected only):
 *   delta-coded columns, one byte per entry: a row's first entry is at column delta[0],
 *   each next one at the previous column + delta (gaps over 255 are bridged by stored
 *   zero-valued entries, which nnz and row_ptr count). 1 byte per entry instead of 2. 
 * Exactly one row-pointer array is set:   row_ptr_u16 when nnz <= 65535,
 *                                         row_ptr_u32 otherwise (the other NULL).
 * Conv column c means (ky, kx, ic) = (c / (kw*in_c), (c / in_c) % kw, c % in_c).
 * The sparse conv kernels read only rows, cols, nnz, the row pointers and row_sum (the
 * columns and values come from td_conv_taps): for a conv, values, col_idx_u8, col_idx_u16
 * and col_delta_u8 may all be NULL. The fully connected kernel reads every field. */
typedef struct {
    int32_t rows;
    int32_t cols;
    int32_t nnz;
    const int8_t *values;          /* [nnz] */
    const uint8_t *col_idx_u8;     /* [nnz] or NULL */
    const uint16_t *col_idx_u16;   /* [nnz] or NULL */
    const uint16_t *row_ptr_u16;   /* [rows + 1] or NULL */
    const uint32_t *row_ptr_u32;   /* [rows + 1] or NULL */
    const int32_t *row_sum;        /* [rows] sum of each row's values (precomputed by the
                                      generator so kernels fold input_offset into the bias:
                                      bias + input_offset * row_sum; never NULL) */
    const uint8_t *col_delta_u8;   /* [nnz] or NULL (see above) */
} td_csr_weights;

/* N:M structured-sparse weights.
 * m in {2, 4, 8, 16}, 1 <= n < m, b = log2(m) bits per slot.
 * Each row is padded with zeros to Kp = ceil(cols/m)*m and cut into G = Kp/m groups of m
 * consecutive columns. Every group stores exactly n slots (value 0 in unused slots), in
 * ascending in-group position order.
 *   values: int8 [rows * G * n], row-major (row, group, slot).
 *   meta:   the in-group position (0..m-1) of every slot, b bits each, packed LSB-first
 *           (slot s of a row occupies bits [s*b, s*b + b) of that row's bit string, bit j
 *           of the string is bit (j % 8) of byte j / 8). Row r starts at byte
 *           r * meta_row_bytes, meta_row_bytes = 4 * ceil(G*n*b / 32) (a multiple of 4).
 *           Total size rows * meta_row_bytes. Unused trailing bits are 0.
 * The sparse conv kernels read only rows, cols, n, m and row_sum (slots come from
 * td_conv_taps): for a conv, values and meta may be NULL and meta_row_bytes is ignored.
 * The fully connected kernel reads every field. */
typedef struct {
    int32_t rows;
    int32_t cols;             /* K before padding */
    int32_t n;
    int32_t m;
    int32_t meta_row_bytes;   /* must equal 4 * ceil((Kp/m)*n*log2(m) / 32) */
    const int8_t *values;
    const uint8_t *meta;
    const int32_t *row_sum;   /* [rows] sum of each row's values, never NULL (see CSR) */
} td_nm_weights;

/* Receptive-field taps of a sparse conv, computed by the generator for one input geometry
 * (TFLM computes such data in Prepare; here it lives in flash and costs no RAM).
 * The kernels read the input through a "band": input rows zero-point padded left and right,
 * band_w = in_w + pad_left + pad_right cells per row. Stored entry e of the weights (CSR:
 * nonzero e; N:M: slot e, padding slots included) with column (ky, kx, ic) becomes
 *   taps[e] = off | ((uint32_t)(uint16_t)(int16_t)value << 16),
 *   off = (ky * band_w + kx) * in_c + ic   (byte offset from the window origin, < 65536),
 * N:M slots past K store off = 0 and value 0. The value sits in the top half so that one
 * load feeds both the address (UXTAH) and the multiply (SMLATB) on Cortex-M DSP cores. */
typedef struct {
    int32_t band_w;          /* in_w + pad_left + pad_right the offsets were computed for */
    int32_t in_c;            /* input channels the offsets were computed for */
    int32_t entries;         /* CSR: nnz; N:M: rows * ceil(cols/m) * n */
    const uint32_t *taps;    /* [entries] (may be NULL when entries == 0) */
} td_conv_taps;

/* ---- float32 / 8-bit edges (QUANTIZE, DEQUANTIZE) ---- */
/* QUANTIZE float32 -> int8 (TFLM AffineQuantize): q = clamp(round(x / scale) + zero_point),
 * round half away from zero. `scale` is the output tensor's float32 scale. */
typedef struct {
    float scale;         /* > 0 */
    int32_t zero_point;  /* [-128, 127] */
} td_quantize_params;

/* DEQUANTIZE int8 -> float32 (TFLM Dequantize): x = (q - zero_point) * scale. */
typedef struct {
    float scale;         /* > 0, the input tensor's float32 scale */
    int32_t zero_point;  /* [-128, 127] */
} td_dequantize_params;
/* ---- end of the QUANTIZE / DEQUANTIZE block ---- */

#ifdef __cplusplus
}
#endif

#endif /* TDNN_TYPES_H */
