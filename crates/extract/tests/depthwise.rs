//! The patched depthwise convolution of rten (`vendor/README.md`) against a direct computation.
//!
//! The patch must not change a single output: the models' readings are pinned by it. rten's
//! kernel starts each output at its bias and adds the taps row by row, left to right, skipping
//! the padding; the reference below does the same in the same order, so the two must agree bit
//! for bit. The shapes are PP-OCR's (3×3 and 5×5, strides one and two, padding of half the
//! kernel) with widths that leave remainders after the eight-lane loop.

use rten::BufferPool;
use rten::ops::{Padding, conv};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, Tensor};

mod common;
use common::values;

struct Case {
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
}

fn reference(case: &Case, input: &[f32], kernel: &[f32], bias: &[f32]) -> Vec<f32> {
    let Case {
        channels,
        height,
        width,
        kernel: k,
        stride,
    } = *case;
    let pad = k / 2;
    let out_h = (height + 2 * pad - k) / stride + 1;
    let out_w = (width + 2 * pad - k) / stride + 1;
    let mut out = Vec::with_capacity(channels * out_h * out_w);
    for c in 0..channels {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let mut sum = bias[c];
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) = (oy * stride + ky, ox * stride + kx);
                        if iy < pad || ix < pad || iy - pad >= height || ix - pad >= width {
                            continue;
                        }
                        let pixel = input[(c * height + iy - pad) * width + ix - pad];
                        sum += pixel * kernel[(c * k + ky) * k + kx];
                    }
                }
                out.push(sum);
            }
        }
    }
    out
}

#[test]
fn depthwise_convolution_matches_a_direct_computation_bit_for_bit() {
    // (channels, height, width, kernel, stride)
    let cases = [
        (4, 9, 37, 3, 1),
        (3, 12, 83, 5, 1),
        (2, 6, 8, 3, 1),
        (5, 3, 5, 5, 1),
        (3, 10, 41, 3, 2),
        (2, 11, 29, 5, 2),
    ]
    .map(|(channels, height, width, kernel, stride)| Case {
        channels,
        height,
        width,
        kernel,
        stride,
    });
    let pool = BufferPool::new();
    for (index, case) in cases.iter().enumerate() {
        let seed = index as u32 * 3;
        let (c, k) = (case.channels, case.kernel);
        let input = values(c * case.height * case.width, seed + 1);
        let kernel = values(c * k * k, seed + 2);
        let bias = values(c, seed + 3);
        let input_tensor = Tensor::from_data(&[1, c, case.height, case.width], input.clone());
        let kernel_tensor = Tensor::from_data(&[c, 1, k, k], kernel.clone());
        let bias_tensor = NdTensor::from_data([c], bias.clone());
        let pad = k / 2;
        let output: Tensor<f32> = conv(
            &pool,
            input_tensor.view(),
            kernel_tensor.view(),
            Some(bias_tensor.view()),
            Padding::Fixed([pad, pad, pad, pad].into()),
            c,
            &[case.stride, case.stride],
            &[1, 1],
        )
        .expect("a valid convolution");
        let got: Vec<u32> = output.to_vec().iter().map(|v| v.to_bits()).collect();
        let want: Vec<u32> = reference(case, &input, &kernel, &bias)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(
            got, want,
            "case {index}: {c} channels {}x{} kernel {k} stride {}",
            case.height, case.width, case.stride
        );
    }
}
