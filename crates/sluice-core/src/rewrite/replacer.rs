//! The streaming byte replacer: rewrites `//host` URLs in any byte stream
//! (CSS, JavaScript, JSON, XML, SVG, text, and the raw-text regions of HTML)
//! whatever the chunk boundaries.
//!
//! It is a single left-to-right pass driven by [`RewriteRules::next_match_in`].
//! Between calls it holds back only the bytes a future match could still
//! need — at most [`RewriteRules::max_hold`] (the longest host plus 12) — so
//! a URL split across *any* chunk boundary is found, nothing is dropped or
//! duplicated, and invalid UTF-8 or NUL bytes are just bytes.

use crate::error::PipelineError;
use crate::rewrite::rules::{Found, Markers, RewriteRules, LOOKBEHIND, MARKER_TAIL};
use crate::rewrite::ByteSink;

/// A streaming instance of the matcher over one byte stream.
#[derive(Debug)]
pub(crate) struct StreamReplacer {
    rules: RewriteRules,
    /// Input bytes not yet emitted: the held-back tail plus the current
    /// chunk while it is being processed.
    pending: Vec<u8>,
    /// Markers before this index of `pending` have been decided.
    scan: usize,
    /// URLs rewritten so far.
    rewritten: u64,
}

impl StreamReplacer {
    pub(crate) fn new(rules: RewriteRules) -> Self {
        Self {
            rules,
            pending: Vec::new(),
            scan: 0,
            rewritten: 0,
        }
    }

    /// URLs rewritten so far.
    pub(crate) fn rewritten(&self) -> u64 {
        self.rewritten
    }

    /// Bytes currently held back (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.pending.len()
    }

    /// Pushes the next chunk; writes everything that can no longer be part
    /// of a rewrite to `out`.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        out: &mut impl ByteSink,
    ) -> Result<(), PipelineError> {
        if self.pending.is_empty() {
            // Nothing held back (the usual case between URLs): scan the
            // chunk where it is and copy only the undecided tail, instead
            // of copying every byte through `pending`.
            let (emitted, scan) = scan(&self.rules, input, 0, false, out, &mut self.rewritten)?;
            self.pending.extend_from_slice(&input[emitted..]);
            self.scan = scan - emitted;
            return Ok(());
        }
        self.pending.extend_from_slice(input);
        self.run(false, out)
    }

    /// End of this byte stream: decides the held-back tail and writes it.
    /// The replacer is then empty and can start a new, independent stream
    /// (the HTML rewriter reuses one per `<script>`/`<style>` region).
    pub(crate) fn finish(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        self.run(true, out)
    }

    fn run(&mut self, eof: bool, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        let (emitted, scan) = scan(
            &self.rules,
            &self.pending,
            self.scan,
            eof,
            out,
            &mut self.rewritten,
        )?;
        self.pending.drain(..emitted);
        self.scan = scan - emitted;
        if eof {
            self.pending.clear();
            self.scan = 0;
        }
        Ok(())
    }
}

fn scan(
    rules: &RewriteRules,
    buf: &[u8],
    mut scan: usize,
    eof: bool,
    out: &mut impl ByteSink,
    rewritten: &mut u64,
) -> Result<(usize, usize), PipelineError> {
    // `emitted` is both how far output has been written and the
    // look-behind floor for the next match.
    let mut emitted = 0;
    let mut markers = Markers::default();
    loop {
        match rules.next_match_in(&mut markers, buf, scan, emitted, eof) {
            Found::Match {
                start,
                end,
                replacement,
            } => {
                if start < emitted {
                    return Err(PipelineError::internal(
                        "replacer match before emitted bytes",
                    ));
                }
                out.put(&buf[emitted..start])?;
                out.put(replacement)?;
                *rewritten += 1;
                emitted = end;
                scan = end;
            }
            Found::NeedMore { at } => {
                scan = at;
                break;
            }
            Found::Exhausted => {
                scan = if eof {
                    buf.len()
                } else {
                    scan.max(buf.len().saturating_sub(MARKER_TAIL))
                };
                break;
            }
        }
    }
    // Everything before the look-behind of the first undecided marker is
    // final.
    let safe = if eof {
        buf.len()
    } else {
        scan.saturating_sub(LOOKBEHIND)
    };
    if safe > emitted {
        out.put(&buf[emitted..safe])?;
        emitted = safe;
    }
    Ok((emitted, scan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RewriteRules {
        RewriteRules::new(
            ["origin.example", "www.origin.example"],
            "https",
            "edge.test:8443",
        )
        .unwrap()
    }

    fn stream(chunks: &[&[u8]]) -> Vec<u8> {
        let mut r = StreamReplacer::new(rules());
        let mut out = Vec::new();
        for c in chunks {
            r.push(c, &mut out).unwrap();
            assert!(r.held() <= rules().max_hold(), "held {}", r.held());
        }
        r.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn every_split_of_a_dense_input_matches_one_shot() {
        let input: &[u8] = b"a http://origin.example/x \\/\\/www.origin.example\\/y HTTPS://ORIGIN.EXAMPLE:1 //origin.example.evil ftp://origin.example \xff\0 //origin.example";
        let whole = rules().rewrite_bytes(input).into_owned();
        assert_eq!(stream(&[input]), whole);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let got = stream(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(b"a https://edge.test:8443/x \\/\\/edge.test:8443\\/y HTTPS://ORIGIN.EXAMPLE:1 //origin.example.evil ftp://origin.example \xff\0 //edge.test:8443")
        );
    }

    #[test]
    fn one_byte_chunks() {
        let input = b"x=\"https://origin.example/a\";y='//www.origin.example'";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(stream(&chunks), rules().rewrite_bytes(input).into_owned());
    }
}
