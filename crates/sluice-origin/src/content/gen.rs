//! The documents of `/gen/{html,css,js}/{n}`: URL-dense, any size, random
//! access, and checkable after rewriting.
//!
//! A document is `header`, then `records` fixed-length lines, then a filler
//! line of spaces, then `footer`; the total is exactly `n` bytes whenever `n`
//! is at least `header + footer` (smaller `n` yields just the two). Record
//! `i` embeds `i` as 10 zero-padded digits, so every record of a document
//! has the same length and any byte can be generated from its offset alone.
//!
//! Each record mixes URLs that the edge must rewrite (absolute
//! `https://H/..`, protocol-relative `//H/..`, JSON-escaped
//! `https:\/\/H\/..` and upper-case `https://H-UPPER/..`) with decoys it
//! must leave alone (`cdn.H` and `H.evil.com`). The rewritable forms come
//! from a [`UrlForms`]; the decoys always use the original host. So the
//! expected output of a rewrite is the same document with different
//! [`UrlForms`] — same records, same filler — and a [`GenChecker`] can
//! compare a rewritten response against it while streaming.

use super::check::GenChecker;
use std::io::{self, Read};

/// Size of the pieces `/gen` writes (64 KiB): large enough for throughput,
/// small enough that a multi-GB body never needs more than one in memory.
pub const GEN_PIECE: usize = 64 * 1024;

const INDEX_DIGITS: usize = 10;

/// Which kind of document to generate; picks the templates and the default
/// Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenKind {
    /// `text/html`: URLs in attributes, `srcset`, inline `style` and `<script>`.
    Html,
    /// `text/css`: URLs in `url(...)`, bare, double- and single-quoted.
    Css,
    /// `application/javascript`: URLs in string literals, some JSON-escaped.
    Js,
}

impl GenKind {
    /// Parses the `{kind}` path segment of `/gen/{kind}/{n}`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "html" => Some(Self::Html),
            "css" => Some(Self::Css),
            "js" => Some(Self::Js),
            _ => None,
        }
    }

    /// The path segment naming this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Css => "css",
            Self::Js => "js",
        }
    }

    /// The Content-Type `/gen` serves this kind with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Css => "text/css; charset=utf-8",
            Self::Js => "application/javascript; charset=utf-8",
        }
    }

    fn header(self) -> &'static str {
        match self {
            Self::Html => "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sluice generated document</title></head><body>\n",
            Self::Css => "/* sluice generated stylesheet */\n",
            Self::Js => "// sluice generated script\n\"use strict\";\n",
        }
    }

    fn footer(self) -> &'static str {
        match self {
            Self::Html => "</body></html>\n",
            Self::Css => "/* end of sluice generated stylesheet */\n",
            Self::Js => "// end of sluice generated script\n",
        }
    }

    /// One record line. `$I` is the record index (10 digits), `$ABS`,
    /// `$REL`, `$JSON`, `$UP` the rewritable URL prefixes and `$H` the
    /// original host, used only inside decoys.
    fn record_template(self) -> &'static str {
        match self {
            Self::Html => concat!(
                "<p id=\"r$I\"><a href=\"$ABS/p/$I?q=1#f\">a</a> ",
                "<img src=\"$REL/i/$I.png\" srcset=\"$ABS/i/$I-1x.png 1x, $REL/i/$I-2x.png 2x\" alt=\"\"> ",
                "<a href=\"https://cdn.$H/c/$I\">cdn</a> <a href=\"https://$H.evil.com/e/$I\">evil</a> ",
                "<a href=\"$UP/u/$I\">up</a> <span style=\"background:url($ABS/b/$I.png)\">s</span>",
                "<script>var u$I=\"$JSON\\/j\\/$I\",d$I=\"https:\\/\\/cdn.$H\\/d\\/$I\";</script></p>\n"
            ),
            Self::Css => concat!(
                ".r$I{background:url($ABS/b/$I.png)}",
                ".s$I{background-image:url(\"$REL/c/$I.png\")}",
                ".u$I{background:url('$UP/u/$I.png')}",
                ".d$I{background:url(https://cdn.$H/d/$I.png);border-image:url(\"https://$H.evil.com/e/$I.png\")}\n"
            ),
            Self::Js => concat!(
                "var r$I={\"a\":\"$JSON\\/j\\/$I\",\"b\":\"$ABS/p/$I\",\"c\":\"$REL/r/$I\",\"u\":\"$UP/u/$I\",",
                "\"d\":\"https://cdn.$H/d/$I\",\"e\":\"https:\\/\\/$H.evil.com\\/e\\/$I\"};\n"
            ),
        }
    }
}

/// The four spellings of "a URL on the rewrite host" a document contains.
///
/// [`UrlForms::origin`] is what the origin serves; [`UrlForms::rewritten`]
/// is what sluice-core's rewriter is specified to produce (request scheme
/// and host, host always lower-case). Build one by hand if the rewrite policy
/// under test differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlForms {
    /// Replaces `$ABS`, e.g. `https://origin.example`.
    pub absolute: String,
    /// Replaces `$REL`, e.g. `//origin.example`.
    pub protocol_relative: String,
    /// Replaces `$JSON`, e.g. `https:\/\/origin.example`.
    pub json_escaped: String,
    /// Replaces `$UP`, e.g. `https://ORIGIN.EXAMPLE`.
    pub upper_case: String,
}

impl UrlForms {
    /// The forms the origin generates for `host`.
    pub fn origin(host: &str) -> Self {
        Self {
            absolute: format!("https://{host}"),
            protocol_relative: format!("//{host}"),
            json_escaped: format!("https:\\/\\/{host}"),
            upper_case: format!("https://{}", host.to_ascii_uppercase()),
        }
    }

    /// The forms after rewriting every rewritable URL to `scheme://host`
    /// (protocol-relative ones stay protocol-relative).
    pub fn rewritten(scheme: &str, host: &str) -> Self {
        Self {
            absolute: format!("{scheme}://{host}"),
            protocol_relative: format!("//{host}"),
            json_escaped: format!("{scheme}:\\/\\/{host}"),
            upper_case: format!("{scheme}://{host}"),
        }
    }
}

#[derive(Debug, Clone)]
enum Seg {
    Lit(usize, usize),
    Index,
}

/// A record template with every host substituted; only the index varies.
#[derive(Debug, Clone)]
struct Template {
    lits: Vec<u8>,
    segs: Vec<Seg>,
    len: usize,
}

impl Template {
    fn compile(src: &str, urls: &UrlForms, decoy_host: &str) -> Self {
        const NAMES: [&str; 6] = ["ABS", "REL", "JSON", "UP", "I", "H"];
        let mut lits = Vec::new();
        let mut segs = Vec::new();
        let mut lit_start = 0usize;
        let mut rest = src;
        while let Some(pos) = rest.find('$') {
            lits.extend_from_slice(&rest.as_bytes()[..pos]);
            let after = &rest[pos + 1..];
            let name = NAMES.iter().find(|n| after.starts_with(**n));
            match name {
                Some(&"I") => {
                    if lits.len() > lit_start {
                        segs.push(Seg::Lit(lit_start, lits.len()));
                    }
                    segs.push(Seg::Index);
                    lit_start = lits.len();
                }
                Some(n) => {
                    let value = match *n {
                        "ABS" => urls.absolute.as_str(),
                        "REL" => urls.protocol_relative.as_str(),
                        "JSON" => urls.json_escaped.as_str(),
                        "UP" => urls.upper_case.as_str(),
                        _ => decoy_host,
                    };
                    lits.extend_from_slice(value.as_bytes());
                }
                None => lits.push(b'$'),
            }
            rest = &after[name.map_or(0, |n| n.len())..];
        }
        lits.extend_from_slice(rest.as_bytes());
        if lits.len() > lit_start {
            segs.push(Seg::Lit(lit_start, lits.len()));
        }
        let index_count = segs.iter().filter(|s| matches!(s, Seg::Index)).count();
        let len = lits.len() + index_count * INDEX_DIGITS;
        Self { lits, segs, len }
    }

    /// Writes record `index` into `out`, which must be exactly `self.len`.
    fn render(&self, index: u64, out: &mut [u8]) {
        let mut digits = [b'0'; INDEX_DIGITS];
        let mut v = index;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let mut at = 0usize;
        for seg in &self.segs {
            let src: &[u8] = match seg {
                Seg::Lit(a, b) => &self.lits[*a..*b],
                Seg::Index => &digits,
            };
            out[at..at + src.len()].copy_from_slice(src);
            at += src.len();
        }
    }
}

/// A generated document: its kind, size, URL forms and layout.
///
/// Cheap to clone (a few hundred bytes of templates).
#[derive(Debug, Clone)]
pub struct GenDoc {
    kind: GenKind,
    decoy_host: String,
    urls: UrlForms,
    records: u64,
    filler: u64,
    header: &'static [u8],
    footer: &'static [u8],
    record: Template,
}

impl GenDoc {
    /// The document `/gen/{kind}/{n}?host={host}` serves: exactly `n` bytes
    /// when `n >= header + footer`, otherwise just header and footer.
    pub fn new(kind: GenKind, host: &str, n: u64) -> Self {
        let urls = UrlForms::origin(host);
        let record = Template::compile(kind.record_template(), &urls, host);
        let header = kind.header().as_bytes();
        let footer = kind.footer().as_bytes();
        let base = (header.len() + footer.len()) as u64;
        let body = n.saturating_sub(base);
        let rlen = record.len as u64;
        Self {
            kind,
            decoy_host: host.to_owned(),
            urls,
            records: body / rlen,
            filler: body % rlen,
            header,
            footer,
            record,
        }
    }

    /// The same document (same records, same filler) with the rewritable
    /// URLs spelled as `urls`: the expected output of a rewrite.
    pub fn with_urls(&self, urls: UrlForms) -> Self {
        let record = Template::compile(self.kind.record_template(), &urls, &self.decoy_host);
        Self {
            urls,
            record,
            ..self.clone()
        }
    }

    /// The kind of document.
    pub fn kind(&self) -> GenKind {
        self.kind
    }

    /// The URL forms the rewritable URLs use.
    pub fn urls(&self) -> &UrlForms {
        &self.urls
    }

    /// Number of record lines.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Length of one record line in bytes (newline included).
    pub fn record_len(&self) -> usize {
        self.record.len
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.header.len() as u64
            + self.records * self.record.len as u64
            + self.filler
            + self.footer.len() as u64
    }

    /// Never true: a document always has a header and a footer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record line `index` (with its newline), e.g. to print in a failure.
    pub fn record(&self, index: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.record.len];
        self.record.render(index, &mut out);
        out
    }

    /// Where `offset` falls, in words: `header`, `record 12 column 3`, ...
    pub fn locate(&self, offset: u64) -> String {
        let h = self.header.len() as u64;
        let rl = self.record.len as u64;
        let rec_end = h + self.records * rl;
        if offset < h {
            format!("header column {offset}")
        } else if offset < rec_end {
            let rel = offset - h;
            format!("record {} column {}", rel / rl, rel % rl)
        } else if offset < rec_end + self.filler {
            format!("filler column {}", offset - rec_end)
        } else if offset < self.len() {
            format!("footer column {}", offset - rec_end - self.filler)
        } else {
            format!("past the end ({} bytes)", self.len())
        }
    }

    /// Copies the bytes at `offset..` into `buf`; returns how many (fewer
    /// than `buf.len()` only at the end of the document).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let mut r = GenReader::at(self.clone(), offset);
        let mut done = 0;
        while done < buf.len() {
            let n = r.fill(&mut buf[done..]);
            if n == 0 {
                break;
            }
            done += n;
        }
        done
    }

    /// A streaming reader over the whole document.
    pub fn reader(&self) -> GenReader {
        GenReader::at(self.clone(), 0)
    }

    /// A streaming checker comparing bytes against this document.
    pub fn checker(&self) -> GenChecker {
        GenChecker::new(self.reader())
    }
}

/// Sequential generator of a [`GenDoc`]; implements [`Read`].
///
/// Holds one record of scratch space, so memory is constant whatever the
/// document size.
#[derive(Debug, Clone)]
pub struct GenReader {
    doc: GenDoc,
    pos: u64,
    scratch: Vec<u8>,
    scratch_index: Option<u64>,
}

impl GenReader {
    /// A reader positioned at `offset`.
    pub fn at(doc: GenDoc, offset: u64) -> Self {
        Self {
            doc,
            pos: offset,
            scratch: Vec::new(),
            scratch_index: None,
        }
    }

    /// The document being generated.
    pub fn doc(&self) -> &GenDoc {
        &self.doc
    }

    /// Current offset.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes left to generate.
    pub fn remaining(&self) -> u64 {
        self.doc.len().saturating_sub(self.pos)
    }

    /// Fills as much of `buf` as the document allows; 0 means the end.
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut done = 0usize;
        while done < buf.len() && self.pos < self.doc.len() {
            let n = self.fill_region(&mut buf[done..]);
            done += n;
            self.pos += n as u64;
        }
        done
    }

    /// Fills from the region containing `self.pos`; returns bytes written.
    fn fill_region(&mut self, out: &mut [u8]) -> usize {
        let d = &self.doc;
        let h = d.header.len() as u64;
        let rl = d.record.len as u64;
        let rec_end = h + d.records * rl;
        let pos = self.pos;
        if pos < h {
            return copy_from(&d.header[pos as usize..], out);
        }
        if pos < rec_end {
            let rel = pos - h;
            let mut index = rel / rl;
            let col = (rel % rl) as usize;
            if col == 0 && out.len() >= d.record.len {
                // Fast path: whole records straight into the output.
                let mut at = 0usize;
                while out.len() - at >= d.record.len && index < d.records {
                    d.record.render(index, &mut out[at..at + d.record.len]);
                    at += d.record.len;
                    index += 1;
                }
                return at;
            }
            if self.scratch_index != Some(index) {
                self.scratch.resize(d.record.len, 0);
                d.record.render(index, &mut self.scratch);
                self.scratch_index = Some(index);
            }
            return copy_from(&self.scratch[col..], out);
        }
        if pos < rec_end + d.filler {
            let col = pos - rec_end;
            let left = (d.filler - col) as usize;
            let n = left.min(out.len());
            for (k, b) in out[..n].iter_mut().enumerate() {
                let at = col + k as u64;
                *b = if at + 1 == d.filler { b'\n' } else { b' ' };
            }
            return n;
        }
        let col = (pos - rec_end - d.filler) as usize;
        copy_from(&d.footer[col.min(d.footer.len())..], out)
    }
}

fn copy_from(src: &[u8], out: &mut [u8]) -> usize {
    let n = src.len().min(out.len());
    out[..n].copy_from_slice(&src[..n]);
    n
}

impl Read for GenReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(doc: &GenDoc) -> Vec<u8> {
        let mut v = Vec::new();
        doc.reader().read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn exact_length_for_every_kind_and_many_sizes() {
        for kind in [GenKind::Html, GenKind::Css, GenKind::Js] {
            for n in [0u64, 1, 50, 200, 1000, 4096, 65_537, 1_000_003] {
                let doc = GenDoc::new(kind, "origin.example", n);
                let base = (kind.header().len() + kind.footer().len()) as u64;
                let body = whole(&doc);
                assert_eq!(body.len() as u64, doc.len());
                assert_eq!(doc.len(), n.max(base), "{kind:?} {n}");
                assert!(body.starts_with(kind.header().as_bytes()));
                assert!(body.ends_with(kind.footer().as_bytes()));
            }
        }
    }

    #[test]
    fn records_are_lines_with_every_url_form_and_decoys() {
        let doc = GenDoc::new(GenKind::Html, "origin.example", 10_000);
        let body = String::from_utf8(whole(&doc)).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines[2],
            String::from_utf8(doc.record(0)).unwrap().trim_end()
        );
        let r = String::from_utf8(doc.record(7)).unwrap();
        assert!(r.contains("href=\"https://origin.example/p/0000000007?q=1#f\""));
        assert!(r.contains("src=\"//origin.example/i/0000000007.png\""));
        assert!(r.contains("https:\\/\\/origin.example\\/j\\/0000000007"));
        assert!(r.contains("https://ORIGIN.EXAMPLE/u/0000000007"));
        assert!(r.contains("https://cdn.origin.example/c/0000000007"));
        assert!(r.contains("https://origin.example.evil.com/e/0000000007"));
        assert_eq!(r.matches('\n').count(), 1);
        for kind in [GenKind::Css, GenKind::Js] {
            let r = String::from_utf8(GenDoc::new(kind, "h.test", 5000).record(3)).unwrap();
            assert!(
                r.contains("https://h.test/")
                    && r.contains("//h.test/")
                    && r.contains("cdn.h.test")
            );
            assert!(r.contains("h.test.evil.com") && r.contains("H.TEST"));
        }
    }

    #[test]
    fn read_at_and_reader_agree_at_every_split() {
        let doc = GenDoc::new(GenKind::Css, "a.example", 20_011);
        let all = whole(&doc);
        for off in [0u64, 1, 33, 34, 500, 19_999, 20_010, 20_011, 30_000] {
            for len in [0usize, 1, 7, 333, 5000] {
                let mut buf = vec![0u8; len];
                let n = doc.read_at(off, &mut buf);
                let lo = (off as usize).min(all.len());
                let hi = (lo + len).min(all.len());
                assert_eq!(&buf[..n], &all[lo..hi], "off {off} len {len}");
            }
        }
    }

    #[test]
    fn rewritten_expectation_swaps_only_rewritable_urls() {
        let doc = GenDoc::new(GenKind::Js, "origin.example", 3000);
        let exp = doc.with_urls(UrlForms::rewritten("http", "edge.test:7676"));
        assert_eq!(exp.records(), doc.records());
        let orig = String::from_utf8(whole(&doc)).unwrap();
        let want = String::from_utf8(whole(&exp)).unwrap();
        // Applying the rewrite by hand to the original yields the expectation.
        let by_hand = orig
            .replace(
                "https:\\/\\/origin.example\\/j",
                "http:\\/\\/edge.test:7676\\/j",
            )
            .replace("\"https://origin.example/", "\"http://edge.test:7676/")
            .replace("\"//origin.example/", "\"//edge.test:7676/")
            .replace("https://ORIGIN.EXAMPLE/", "http://edge.test:7676/");
        assert_eq!(by_hand, want);
        assert!(want.contains("cdn.origin.example") && want.contains("origin.example.evil.com"));
    }

    #[test]
    fn checker_accepts_any_chunking_and_pinpoints_differences() {
        let doc = GenDoc::new(GenKind::Html, "origin.example", 50_000);
        let all = whole(&doc);
        for step in [1usize, 3, 777, 65_536] {
            let mut c = doc.checker();
            for chunk in all.chunks(step) {
                c.feed(chunk).unwrap();
            }
            assert_eq!(c.finish().unwrap(), 50_000);
        }
        let mut bad = all.clone();
        let at = doc.header.len() + 2 * doc.record_len() + 40;
        bad[at] ^= 1;
        let mut c = doc.checker();
        let err = bad.chunks(1000).try_for_each(|ch| c.feed(ch)).unwrap_err();
        assert_eq!(err.offset, at as u64);
        assert!(
            err.location.starts_with("record 2 column 40"),
            "{}",
            err.location
        );
        // Truncated and overlong streams are errors too.
        let mut c = doc.checker();
        c.feed(&all[..100]).unwrap();
        assert!(c.finish().is_err());
        let mut c = doc.checker();
        c.feed(&all).unwrap();
        assert!(c.feed(b"x").is_err());
    }
}
