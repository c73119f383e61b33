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
    /// How much of a new chunk decides the held-back bytes: comfortably
    /// more than the longest stretch a match can need.
    bridge: usize,
}

impl StreamReplacer {
    pub(crate) fn new(rules: RewriteRules) -> Self {
        Self {
            bridge: (4 * rules.max_hold()).max(1024),
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
        let mut input = input;
        if !self.pending.is_empty() {
            // Bytes are held back from the last chunk (almost always: the
            // last few bytes might start a marker). Decide them with just
            // the start of this chunk; once they are all written, what is
            // still held lies inside `input`, and the rest of the chunk is
            // scanned where it is instead of being copied through
            // `pending`.
            let bridge = input.len().min(self.bridge);
            self.pending.extend_from_slice(&input[..bridge]);
            self.run(false, out)?;
            if bridge == input.len() {
                return Ok(());
            }
            if self.pending.len() > bridge {
                // Still holding bytes of the earlier chunk. Only a marker
                // in the last `max_hold` bytes can be undecided, so this
                // cannot happen while the bridge is longer than that; it
                // is kept so that no future change can make the slicing
                // below go wrong.
                self.pending.extend_from_slice(&input[bridge..]);
                return self.run(false, out);
            }
            // `pending` is `input[start..bridge]`, and `self.scan` is
            // relative to its start.
            input = &input[bridge - self.pending.len()..];
            self.pending.clear();
        }
        let (emitted, scan) = scan(
            &self.rules,
            input,
            self.scan,
            false,
            out,
            &mut self.rewritten,
        )?;
        self.pending.extend_from_slice(&input[emitted..]);
        self.scan = scan - emitted;
        Ok(())
    }

    /// End of this byte stream: decides the held-back tail and writes it.
    /// The replacer is then empty and can start a new, independent stream
    /// (the HTML rewriter reuses one per `<script>`/`<style>` region).
    pub(crate) fn finish(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        self.run(true, out)
    }

    /// Stops rewriting this stream: the held-back bytes are written as
    /// they came (a URL they might start is left alone rather than guessed
    /// at, since the bytes that would decide it will not be rewritten), and
    /// the replacer is empty again. Returns how many bytes went out raw;
    /// everything before them was decided exactly as a full rewrite would.
    pub(crate) fn stop(&mut self, out: &mut impl ByteSink) -> Result<usize, PipelineError> {
        let raw = self.pending.len();
        out.put(&self.pending)?;
        self.pending.clear();
        self.scan = 0;
        Ok(raw)
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

    #[test]
    fn chunks_longer_than_the_bridge_are_scanned_in_place_with_the_same_output() {
        // Chunks longer than the bridge take the in-place path after the
        // held-back bytes are decided, with URLs on both sides of every
        // seam. Every split must still give the one-shot output.
        let dense: &[u8] = b"a http://origin.example/x \\/\\/www.origin.example\\/y //origin.example.evil ///origin.example ";
        let pad = vec![b'p'; 1100];
        let input = [dense, &pad, dense, &pad, dense].concat();
        let whole = rules().rewrite_bytes(&input).into_owned();
        assert_eq!(
            memchr::memmem::find_iter(&whole, b"edge.test:8443").count(),
            9,
            "three rewrites per dense block"
        );
        for i in 0..=input.len() {
            assert_eq!(stream(&[&input[..i], &input[i..]]), whole, "split at {i}");
            for step in [1, 7, 1023, 1024, 1025, 1100] {
                let j = (i + step).min(input.len());
                let got = stream(&[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i},{j}");
            }
        }
    }
}
