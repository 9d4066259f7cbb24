//! The patched hard-swish fusion of rten (`vendor/README.md`): PP-OCR's detector and recogniser
//! as the OCR loads them (optimised: each `x * Clip(x + 3, 0, 6) / 6` run as one `HardSwish`)
//! against the same models unoptimised (the four operators as written), on the same input.
//! Outputs differ by rounding only; a fusion that matched the wrong subgraph, or a `HardSwish`
//! that computed another function, would move them by far more.

use rten::{Model, ModelOptions};
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, Tensor};
use scanpay_extract::ocr::{DETECTION_MODEL, RECOGNITION_MODEL, default_models_dir};

mod common;
use common::values;

fn outputs(name: &str, shape: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
    let path = default_models_dir().join(name);
    let fused = Model::load_file(&path).expect("the models are installed (scripts/models)");
    let plain = ModelOptions::with_all_ops()
        .enable_optimization(false)
        .load_file(&path)
        .unwrap();
    let input = NdTensor::from_data(shape, values(shape.iter().product(), 7));
    // The recogniser answers [batch, steps, classes], the detector [batch, 1, height, width].
    let run = |model: &Model| -> Vec<f32> {
        let output: Tensor<f32> = model
            .run_one(input.view().into(), None)
            .unwrap()
            .try_into()
            .unwrap();
        output.to_vec()
    };
    (run(&fused), run(&plain))
}

fn assert_close(name: &str, (fused, plain): (Vec<f32>, Vec<f32>)) {
    assert_eq!(fused.len(), plain.len());
    let worst = fused
        .iter()
        .zip(&plain)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Probabilities in 0..1: rounding moves them by ~1e-6; a wrong activation by ~1e-1.
    assert!(worst < 1e-3, "{name}: outputs differ by up to {worst}");
}

#[test]
fn fused_hard_swish_reads_as_the_four_operators_do() {
    assert_close(
        RECOGNITION_MODEL,
        outputs(RECOGNITION_MODEL, [1, 3, 48, 320]),
    );
    assert_close(DETECTION_MODEL, outputs(DETECTION_MODEL, [1, 3, 96, 128]));
}
