//! scanpay patch: a direct `f32` convolution for layers with few output channels and a kernel
//! of 3×3 or more (stride and dilation one, one group).
//!
//! The general path turns such a layer into a matrix product over an im2col matrix: every
//! input value is copied `k_h * k_w` times into packed panels, and with few output channels
//! each packed value then takes part in only a few multiply-adds, so the packing costs more than
//! the arithmetic (PP-OCR's detector: two 3×3 layers of 96 → 24 channels over a quarter of the
//! page were 37% of its time, most of it `pack_im2col`). Here the input is padded once, and
//! each output row is computed in vectors of 16 (AVX-512) or 8 (AVX2) columns for 8 output
//! channels at a time, the accumulators staying in registers while the loop runs over input
//! channels and kernel taps. Sums run in another order than the matrix product's, so the
//! results differ from it by rounding only.

use rayon::prelude::*;
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, NdTensorView};

use crate::buffer_pool::{AutoReturn, BufferPool};

/// Output channels computed together (the accumulators of one vector of columns).
const OB: usize = 8;

/// Whether the direct path is worth taking for a layer of this shape on this CPU: few output
/// channels and a kernel of 3×3 or more (gemm's packing pays off with more channels or a 1×k
/// kernel), and vector instructions for it (elsewhere gemm's own SIMD kernels are faster than
/// this file's scalar loop, which is only for the columns left over).
pub(super) fn worth_it(out_c: usize, k_h: usize, k_w: usize) -> bool {
    out_c <= 32 && k_h * k_w >= 9 && !matches!(Kind::detect(), Kind::Scalar)
}

/// What a row task reads.
struct Layer<'a> {
    /// The padded input of one batch item, `[in_c][pad_h][pad_w]`.
    padded: &'a [f32],
    pad_h: usize,
    pad_w: usize,
    in_c: usize,
    k_h: usize,
    k_w: usize,
    out_w: usize,
}

/// Where a row task writes: the output planes of one batch item.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// Safety: tasks write disjoint (channel block, row) pieces of the output.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// # Safety
    /// `offset` is inside the output.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // Safety: the caller's promise.
        unsafe { self.0.add(offset) }
    }
}

/// Convolves `input` (`[N, C, H, W]`) with `kernel` (`[O, C, k_h, k_w]`), stride and dilation
/// one, one group, `padding` as `[top, left, bottom, right]`.
pub(super) fn conv_direct_f32(
    pool: &BufferPool,
    input: &NdTensorView<f32, 4>,
    kernel: &NdTensorView<f32, 4>,
    bias: Option<NdTensorView<f32, 1>>,
    padding: [usize; 4],
    [out_h, out_w]: [usize; 2],
) -> NdTensor<f32, 4> {
    let [batch, in_c, in_h, in_w] = input.shape();
    let [out_c, _, k_h, k_w] = kernel.shape();
    let [pad_top, pad_left, pad_bottom, pad_right] = padding;
    let pad_h = in_h + pad_top + pad_bottom;
    let pad_w = in_w + pad_left + pad_right;
    debug_assert_eq!(out_h, pad_h + 1 - k_h);
    debug_assert_eq!(out_w, pad_w + 1 - k_w);

    // The weights as [block][c][ky][kx][OB], zero past the last output channel.
    let blocks = out_c.div_ceil(OB);
    let taps = in_c * k_h * k_w;
    let mut weights = vec![0f32; blocks * taps * OB];
    for o in 0..out_c {
        for c in 0..in_c {
            for ky in 0..k_h {
                for kx in 0..k_w {
                    let tap = (c * k_h + ky) * k_w + kx;
                    weights[((o / OB) * taps + tap) * OB + o % OB] = kernel[[o, c, ky, kx]];
                }
            }
        }
    }
    let bias: Vec<f32> = (0..blocks * OB)
        .map(|o| match bias {
            Some(b) if o < out_c => b[o],
            _ => 0.0,
        })
        .collect();

    let input = input.to_contiguous_in(pool).auto_return(pool);
    let mut output = NdTensor::<f32, 4>::zeros_in(pool, [batch, out_c, out_h, out_w]);
    let mut padded = pool.alloc::<f32>(in_c * pad_h * pad_w);
    padded.resize(in_c * pad_h * pad_w, 0.0);

    // Rows are split into chunks so that both threads get work even with one channel block.
    let row_chunk = out_h.div_ceil(8).max(1);
    let chunks = out_h.div_ceil(row_chunk);
    let kind = Kind::detect();
    for n in 0..batch {
        let item = input.slice(n);
        let item = item.data().expect("contiguous input");
        for c in 0..in_c {
            for y in 0..in_h {
                let from = &item[(c * in_h + y) * in_w..][..in_w];
                padded[(c * pad_h + y + pad_top) * pad_w + pad_left..][..in_w]
                    .copy_from_slice(from);
            }
        }
        let layer = Layer {
            padded: &padded,
            pad_h,
            pad_w,
            in_c,
            k_h,
            k_w,
            out_w,
        };
        let mut out_item = output.slice_mut(n);
        let out = Out(out_item.data_mut().expect("fresh output").as_mut_ptr());
        let plane = out_h * out_w;
        (0..blocks * chunks).into_par_iter().for_each(|task| {
            let (block, chunk) = (task / chunks, task % chunks);
            let channels = (out_c - block * OB).min(OB);
            let w = &weights[block * taps * OB..][..taps * OB];
            let b: [f32; OB] = bias[block * OB..][..OB].try_into().unwrap();
            let rows = chunk * row_chunk..((chunk + 1) * row_chunk).min(out_h);
            for y in rows {
                let mut row = [std::ptr::null_mut::<f32>(); OB];
                for (o, ptr) in row.iter_mut().enumerate().take(channels) {
                    // Safety: inside the output, and this task's own (block, row).
                    *ptr = unsafe { out.at((block * OB + o) * plane + y * out_w) };
                }
                // Safety: `row` holds `channels` rows of `out_w` values nobody else writes.
                unsafe { kind.row(&layer, y, w, b, &row[..channels]) };
            }
        });
    }
    padded.clear();
    pool.add(padded);
    output
}

#[derive(Clone, Copy)]
enum Kind {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Scalar,
}

impl Kind {
    fn detect() -> Kind {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Kind::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Kind::Avx2;
            }
        }
        Kind::Scalar
    }

    /// Computes output row `y` of the block's channels into `rows` (one pointer a channel).
    ///
    /// # Safety
    /// Each pointer in `rows` is valid for writing `layer.out_w` values.
    unsafe fn row(self, layer: &Layer, y: usize, w: &[f32], bias: [f32; OB], rows: &[*mut f32]) {
        let done = match self {
            #[cfg(target_arch = "x86_64")]
            // Safety: the CPU has AVX-512 (checked in `detect`).
            Kind::Avx512 => unsafe { x86::row_avx512(layer, y, w, bias, rows) },
            #[cfg(target_arch = "x86_64")]
            // Safety: the CPU has AVX2 and FMA (checked in `detect`).
            Kind::Avx2 => unsafe { x86::row_avx2(layer, y, w, bias, rows) },
            Kind::Scalar => 0,
        };
        for x in done..layer.out_w {
            let mut acc = bias;
            for c in 0..layer.in_c {
                for ky in 0..layer.k_h {
                    let src = &layer.padded[(c * layer.pad_h + y + ky) * layer.pad_w + x..];
                    for kx in 0..layer.k_w {
                        let v = src[kx];
                        let tap = &w[((c * layer.k_h + ky) * layer.k_w + kx) * OB..][..OB];
                        for o in 0..OB {
                            acc[o] += tap[o] * v;
                        }
                    }
                }
            }
            for (o, &row) in rows.iter().enumerate() {
                // Safety: `x < out_w`, within the row (the caller's promise).
                unsafe { *row.add(x) = acc[o] };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Layer, OB};
    use std::arch::x86_64::*;

    /// One macro body for both widths: `$lanes` columns a vector.
    macro_rules! row_kernel {
        ($name:ident, $features:literal, $lanes:literal, $vec:ty, $set1:ident, $load:ident,
         $fmadd:ident, $store:ident) => {
            /// Computes the columns of output row `y` that fill whole vectors; returns how many.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name(
                layer: &Layer,
                y: usize,
                w: &[f32],
                bias: [f32; OB],
                rows: &[*mut f32],
            ) -> usize {
                let whole = layer.out_w / $lanes * $lanes;
                let taps = layer.in_c * layer.k_h * layer.k_w;
                assert!(w.len() >= taps * OB);
                let mut x = 0;
                while x < whole {
                    let mut acc: [$vec; OB] = [$set1(0.0); OB];
                    for o in 0..OB {
                        acc[o] = $set1(bias[o]);
                    }
                    for c in 0..layer.in_c {
                        for ky in 0..layer.k_h {
                            let start = (c * layer.pad_h + y + ky) * layer.pad_w + x;
                            // The widest read is `k_w - 1 + lanes` values from `start`.
                            let src = &layer.padded[start..start + layer.k_w - 1 + $lanes];
                            let tap0 = (c * layer.k_h + ky) * layer.k_w;
                            for kx in 0..layer.k_w {
                                // Safety: `kx + lanes <= src.len()`.
                                let v = unsafe { $load(src.as_ptr().add(kx)) };
                                let t = w.as_ptr().wrapping_add((tap0 + kx) * OB);
                                for o in 0..OB {
                                    // Safety: `(tap0 + kx) * OB + o < taps * OB <= w.len()`.
                                    acc[o] = $fmadd($set1(unsafe { *t.add(o) }), v, acc[o]);
                                }
                            }
                        }
                    }
                    for (o, &row) in rows.iter().enumerate() {
                        // Safety: `x + lanes <= out_w`, within the row (the caller's promise).
                        unsafe { $store(row.add(x), acc[o]) };
                    }
                    x += $lanes;
                }
                whole
            }
        };
    }

    row_kernel!(
        row_avx512,
        "avx512f",
        16,
        __m512,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_fmadd_ps,
        _mm512_storeu_ps
    );
    row_kernel!(
        row_avx2,
        "avx2,fma",
        8,
        __m256,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps
    );
}
