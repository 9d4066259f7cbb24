//! What the convolution tests share.

/// Values with many distinct bits, repeatable, in about -1..1.
pub fn values(count: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect()
}
