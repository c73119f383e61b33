//! Chunk boundaries for tests: every streaming component must give the
//! same output whatever the chunk boundaries, so tests split their inputs
//! at chosen points (property tests) or at reproducible random points
//! (the corpus and fixture tests).

use std::sync::OnceLock;

/// Splits `input` at the given (unsorted, possibly out of range) points,
/// each taken modulo `input.len() + 1`, so a property test can draw any
/// `usize`s. Empty pieces are kept: a chunk of zero bytes is an input
/// the components must accept too.
pub fn split_at_points<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&input[start..cut]);
        start = cut;
    }
    chunks.push(&input[start..]);
    chunks
}

/// A small, fast, reproducible PRNG (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// The split seed: `SLUICE_SPLIT_SEED` if set, else derived from the clock.
/// Printed so any failure can be replayed exactly.
pub fn split_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = match std::env::var("SLUICE_SPLIT_SEED") {
            Ok(s) => s.trim().parse().expect("SLUICE_SPLIT_SEED must be a u64"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        };
        eprintln!("random splits: SLUICE_SPLIT_SEED={seed}");
        seed
    })
}

/// A per-case RNG: the global seed mixed with a case label, so one case can
/// be replayed without running the others first.
pub fn rng_for(label: &str) -> Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    Rng::new(split_seed() ^ h)
}

/// Splits `data` at random points: a mix of 1..=8, 9..=512 and up to
/// 64 KiB chunks, so every size class meets every boundary.
pub fn random_chunks<'a>(data: &'a [u8], rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = match rng.range(0, 9) {
            0..=2 => rng.range(1, 8),
            3..=6 => rng.range(9, 512),
            _ => rng.range(513, 64 << 10),
        }
        .min(rest.len());
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}
