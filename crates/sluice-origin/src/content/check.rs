//! Streaming comparison of a body against a generated document.

use super::gen::GenReader;

/// Where a streamed body first differs from the expected document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("generated document differs at byte {offset} ({location}): expected {expected:?}, got {actual:?}")]
pub struct GenMismatch {
    /// Offset of the first differing byte in the stream.
    pub offset: u64,
    /// [`GenDoc::locate`](super::GenDoc::locate) of that offset.
    pub location: String,
    /// Up to 120 expected bytes from there (lossy UTF-8).
    pub expected: String,
    /// Up to 120 received bytes from there, as far as this chunk goes.
    pub actual: String,
}

/// Compares a streamed body, chunk by chunk, against a [`GenDoc`](super::GenDoc) in
/// constant memory: the way to verify a multi-GB rewritten response.
#[derive(Debug, Clone)]
pub struct GenChecker {
    expected: GenReader,
    offset: u64,
    scratch: Vec<u8>,
}

impl GenChecker {
    /// A checker expecting exactly what `expected` generates from its
    /// current position.
    pub fn new(expected: GenReader) -> Self {
        Self {
            expected,
            offset: 0,
            scratch: Vec::new(),
        }
    }

    /// Bytes verified so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Checks the next chunk of the stream.
    pub fn feed(&mut self, actual: &[u8]) -> Result<(), GenMismatch> {
        self.scratch.resize(actual.len(), 0);
        let got = self.expected.fill(&mut self.scratch);
        let same = actual[..got] == self.scratch[..got];
        if same && got == actual.len() {
            self.offset += got as u64;
            return Ok(());
        }
        let at = actual
            .iter()
            .zip(&self.scratch[..got])
            .position(|(a, e)| a != e)
            .unwrap_or(got);
        let offset = self.offset + at as u64;
        let doc = self.expected.doc();
        let mut exp = vec![0u8; 120];
        let n = doc.read_at(offset, &mut exp);
        exp.truncate(n);
        let end = (at + 120).min(actual.len());
        Err(GenMismatch {
            offset,
            location: doc.locate(offset),
            expected: String::from_utf8_lossy(&exp).into_owned(),
            actual: String::from_utf8_lossy(&actual[at..end]).into_owned(),
        })
    }

    /// Ends the check: the stream must have been exactly the document.
    /// Returns its length.
    pub fn finish(self) -> Result<u64, GenMismatch> {
        let len = self.expected.doc().len();
        if self.offset == len {
            return Ok(len);
        }
        let mut exp = vec![0u8; 120];
        let n = self.expected.doc().read_at(self.offset, &mut exp);
        exp.truncate(n);
        Err(GenMismatch {
            offset: self.offset,
            location: format!("truncated: {}", self.expected.doc().locate(self.offset)),
            expected: String::from_utf8_lossy(&exp).into_owned(),
            actual: String::new(),
        })
    }
}
