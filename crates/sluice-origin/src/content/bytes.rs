//! The body of `/bytes/{n}`: deterministic, incompressible, random-access.
//!
//! Byte `o` of the stream for `seed` is
//!
//! ```text
//! BLOCK[o % BLOCK_SIZE] ^ mask(seed, o / BLOCK_SIZE).to_le_bytes()[o % 8]
//! ```
//!
//! where `BLOCK` is 1 MiB drawn once from `SplitMix64::new(BLOCK_SEED)` and
//! `mask(seed, b) = SplitMix64::new(seed ^ b.wrapping_mul(K) ^ MIX).next_u64()`.
//! Mixing the block index in means no two MiB of a body are equal, so a
//! misplaced range or a duplicated chunk changes the SHA-256; working a word
//! at a time over a precomputed block keeps generation near memcpy speed.
//! The content at an offset does not depend on the body length, so a prefix
//! of `/bytes/10` is `/bytes/5` and a resumed download lines up.

use super::rng::SplitMix64;
use std::sync::OnceLock;

/// Size of the precomputed pseudo-random block (1 MiB, a multiple of 8).
pub const BLOCK_SIZE: usize = 1 << 20;
const BLOCK_SEED: u64 = 0x736c_7569_6365_2d31; // "sluice-1"
const INDEX_MUL: u64 = 0x9E37_79B9_7F4A_7C15;
const MIX: u64 = 0xD1B5_4A32_D192_ED03;

fn block() -> &'static [u8] {
    static BLOCK: OnceLock<Box<[u8]>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut rng = SplitMix64::new(BLOCK_SEED);
        let mut v = Vec::with_capacity(BLOCK_SIZE);
        while v.len() < BLOCK_SIZE {
            v.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        v.into_boxed_slice()
    })
}

fn mask(seed: u64, block_index: u64) -> u64 {
    SplitMix64::new(seed ^ block_index.wrapping_mul(INDEX_MUL) ^ MIX).next_u64()
}

/// Writes bytes `offset .. offset + buf.len()` of the `/bytes` stream for
/// `seed` into `buf`.
///
/// Tests call this to recompute a body (or a range of it) and its SHA-256
/// while streaming, without downloading it twice. The function is total: any
/// offset and length work, and offsets wrap at `u64::MAX`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let block = block();
    let mut off = offset;
    let mut out = buf;
    while !out.is_empty() {
        let in_block = (off % BLOCK_SIZE as u64) as usize;
        let n = out.len().min(BLOCK_SIZE - in_block);
        let (head, rest) = out.split_at_mut(n);
        let m = mask(seed, off / BLOCK_SIZE as u64).to_le_bytes();
        xor_into(head, &block[in_block..in_block + n], m, in_block);
        out = rest;
        off = off.wrapping_add(n as u64);
    }
}

/// `dst[j] = src[j] ^ mask[(start + j) % 8]`, eight bytes at a time.
fn xor_into(dst: &mut [u8], src: &[u8], mask: [u8; 8], start: usize) {
    let mut rot = [0u8; 8];
    for (j, r) in rot.iter_mut().enumerate() {
        *r = mask[(start + j) % 8];
    }
    let word = u64::from_le_bytes(rot);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let mut w = [0u8; 8];
        w.copy_from_slice(sc);
        dc.copy_from_slice(&(u64::from_le_bytes(w) ^ word).to_le_bytes());
    }
    for (j, (db, sb)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *db = sb ^ rot[j % 8];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_at(seed: u64, o: u64) -> u8 {
        block()[(o % BLOCK_SIZE as u64) as usize]
            ^ mask(seed, o / BLOCK_SIZE as u64).to_le_bytes()[(o % 8) as usize]
    }

    #[test]
    fn fill_matches_the_documented_formula_at_any_alignment() {
        for &(seed, off, len) in &[
            (0u64, 0u64, 100usize),
            (0, 3, 37),
            (9, BLOCK_SIZE as u64 - 5, 17),
            (1, 5 * BLOCK_SIZE as u64 + 7, 2 * BLOCK_SIZE + 3),
            (2, (1 << 40) - 3, 3),
        ] {
            let mut buf = vec![0u8; len];
            fill(seed, off, &mut buf);
            for (j, b) in buf.iter().enumerate() {
                assert_eq!(
                    *b,
                    byte_at(seed, off + j as u64),
                    "seed {seed} off {off} j {j}"
                );
            }
        }
    }

    #[test]
    fn split_fills_equal_one_fill_and_blocks_differ() {
        let mut whole = vec![0u8; 3 * BLOCK_SIZE];
        fill(4, 11, &mut whole);
        let mut parts = vec![0u8; 3 * BLOCK_SIZE];
        let mut at = 0usize;
        for step in [1usize, 7, 8, 4093, BLOCK_SIZE, 65_536].iter().cycle() {
            if at >= parts.len() {
                break;
            }
            let end = (at + step).min(parts.len());
            fill(4, 11 + at as u64, &mut parts[at..end]);
            at = end;
        }
        assert_eq!(whole, parts);
        // Consecutive MiB differ, and seeds differ.
        assert_ne!(whole[..BLOCK_SIZE], whole[BLOCK_SIZE..2 * BLOCK_SIZE]);
        let mut other = vec![0u8; 64];
        fill(5, 11, &mut other);
        assert_ne!(other[..], whole[..64]);
    }
}
