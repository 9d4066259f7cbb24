//! The patched direct convolution of rten (`vendor/README.md`) against a computation in `f64`.
//!
//! Layers of one group, stride one, at most 32 output channels and a kernel of 3×3 or more take
//! the direct path (`vendor/rten/src/ops/conv/direct.rs`) on a CPU with AVX2 or AVX-512; its
//! sums run in another order than the matrix product's, so it is held to the exact result
//! within rounding, not bit for bit.
//! The shapes leave remainders after the vector loops (widths not a multiple of 8 or 16, output
//! channels not a multiple of 8), pad unevenly, and run two images in a batch.

use rten::BufferPool;
use rten::ops::{Padding, conv};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, Tensor};

mod common;
use common::values;

struct Case {
    batch: usize,
    in_c: usize,
    out_c: usize,
    height: usize,
    width: usize,
    k_h: usize,
    k_w: usize,
    /// top, left, bottom, right
    pad: [usize; 4],
    bias: bool,
}

impl Case {
    fn out_hw(&self) -> (usize, usize) {
        let [top, left, bottom, right] = self.pad;
        (
            self.height + top + bottom + 1 - self.k_h,
            self.width + left + right + 1 - self.k_w,
        )
    }

    /// Each output in `f64`, and the sum of its terms' magnitudes (the rounding's scale).
    fn reference(&self, input: &[f32], kernel: &[f32], bias: &[f32]) -> Vec<(f64, f64)> {
        let (out_h, out_w) = self.out_hw();
        let [top, left, _, _] = self.pad;
        let mut out = Vec::new();
        for n in 0..self.batch {
            for o in 0..self.out_c {
                for oy in 0..out_h {
                    for ox in 0..out_w {
                        let mut sum = if self.bias { bias[o] as f64 } else { 0.0 };
                        let mut scale = sum.abs();
                        for c in 0..self.in_c {
                            for ky in 0..self.k_h {
                                for kx in 0..self.k_w {
                                    let (iy, ix) = (oy + ky, ox + kx);
                                    if iy < top
                                        || ix < left
                                        || iy - top >= self.height
                                        || ix - left >= self.width
                                    {
                                        continue;
                                    }
                                    let at = ((n * self.in_c + c) * self.height + iy - top)
                                        * self.width
                                        + ix
                                        - left;
                                    let w = kernel
                                        [((o * self.in_c + c) * self.k_h + ky) * self.k_w + kx];
                                    let term = input[at] as f64 * w as f64;
                                    sum += term;
                                    scale += term.abs();
                                }
                            }
                        }
                        out.push((sum, scale));
                    }
                }
            }
        }
        out
    }
}

#[test]
fn direct_convolution_matches_the_exact_result_within_rounding() {
    let cases = [
        // PP-OCR's detector head: 96 → 24 channels, 3×3, padding one; 37 = 2×16 + 5 columns.
        Case {
            batch: 1,
            in_c: 96,
            out_c: 24,
            height: 9,
            width: 37,
            k_h: 3,
            k_w: 3,
            pad: [1, 1, 1, 1],
            bias: true,
        },
        // Uneven padding, 13 output channels (8 + 5), two images, no bias.
        Case {
            batch: 2,
            in_c: 5,
            out_c: 13,
            height: 7,
            width: 20,
            k_h: 3,
            k_w: 3,
            pad: [1, 0, 2, 1],
            bias: false,
        },
        // A 5×5 kernel, fewer columns than one vector.
        Case {
            batch: 1,
            in_c: 3,
            out_c: 8,
            height: 6,
            width: 9,
            k_h: 5,
            k_w: 5,
            pad: [2, 2, 2, 2],
            bias: true,
        },
        // No padding, exactly two vectors of eight, 32 output channels.
        Case {
            batch: 1,
            in_c: 4,
            out_c: 32,
            height: 5,
            width: 18,
            k_h: 3,
            k_w: 3,
            pad: [0, 0, 0, 0],
            bias: true,
        },
    ];
    let pool = BufferPool::new();
    for (index, case) in cases.iter().enumerate() {
        let seed = index as u32 * 3;
        let input = values(case.batch * case.in_c * case.height * case.width, seed + 1);
        let kernel = values(case.out_c * case.in_c * case.k_h * case.k_w, seed + 2);
        let bias = values(case.out_c, seed + 3);
        let input_tensor = Tensor::from_data(
            &[case.batch, case.in_c, case.height, case.width],
            input.clone(),
        );
        let kernel_tensor =
            Tensor::from_data(&[case.out_c, case.in_c, case.k_h, case.k_w], kernel.clone());
        let bias_tensor = NdTensor::from_data([case.out_c], bias.clone());
        let output: Tensor<f32> = conv(
            &pool,
            input_tensor.view(),
            kernel_tensor.view(),
            case.bias.then(|| bias_tensor.view()),
            Padding::Fixed(case.pad.into()),
            1,
            &[1, 1],
            &[1, 1],
        )
        .expect("a valid convolution");
        let (out_h, out_w) = case.out_hw();
        assert_eq!(output.shape(), [case.batch, case.out_c, out_h, out_w]);
        let want = case.reference(&input, &kernel, &bias);
        for (at, (got, (exact, scale))) in output.to_vec().iter().zip(want).enumerate() {
            // f32 rounding over a few hundred terms stays far below 1e-5 of their magnitude.
            let error = (*got as f64 - exact).abs();
            assert!(
                error <= 1e-5 * scale.max(1e-3),
                "case {index}, output {at}: {got} against {exact} (terms' magnitude {scale})"
            );
        }
    }
}
