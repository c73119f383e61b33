//! The one test-support module of sluice-core's integration tests, included
//! by each test file with `mod support;`:
//!
//! * [`chunks`]: chunk-boundary helpers (fixed split points and the
//!   reproducible random-split harness, `SLUICE_SPLIT_SEED`);
//! * [`pipeline`]: the corpus, reference codecs and pipeline runners;
//! * [`alloc`]: the counting global allocator of the flat-memory tests.
//!
//! Each test binary uses only part of it.
#![allow(dead_code)]

pub mod alloc;
pub mod chunks;
pub mod pipeline;
