//! Helpers for the pipeline integration tests (and the pipeline bench,
//! which includes this file): the corpus, reference codecs, pipeline
//! runners and the round-trip aligner.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use sluice_core::{
    ContentEncoding, ContentKind, Pipeline, PipelineConfig, PipelineError, RewriteRules,
};

/// The edge authority every test rewrites to. It appears in no corpus page,
/// so swapping it back is unambiguous.
pub const EDGE: &str = "edge.sluice.test:8443";
/// The request scheme every test uses.
pub const SCHEME: &str = "https";

pub const ENCODINGS: [ContentEncoding; 3] = [
    ContentEncoding::Identity,
    ContentEncoding::Gzip,
    ContentEncoding::Brotli,
];

/// One corpus page.
#[derive(Debug, Clone)]
pub struct Page {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The page's own host from pages.tsv (`None` for `-`).
    pub host: Option<String>,
    /// `urls_on_origin_host` from pages.tsv.
    pub urls_on_host: usize,
}

impl Page {
    /// The rewrite host for this page: its own host, or a host that does
    /// not occur (pages without one still prove chunking invariance).
    pub fn rewrite_host(&self) -> &str {
        self.host.as_deref().unwrap_or("no-origin-host.invalid")
    }

    pub fn rules(&self) -> RewriteRules {
        RewriteRules::new([self.rewrite_host()], SCHEME, EDGE).unwrap()
    }
}

pub fn corpus_dir() -> PathBuf {
    std::env::var_os("SLUICE_CORPUS_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        },
        PathBuf::from,
    )
}

/// All pages listed in pages.tsv (loaded once per test binary).
pub fn corpus() -> &'static [Page] {
    static PAGES: OnceLock<Vec<Page>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let dir = corpus_dir();
        let tsv = std::fs::read_to_string(dir.join("pages.tsv"))
            .unwrap_or_else(|e| panic!("corpus not found at {}: {e}", dir.display()));
        let pages: Vec<Page> = tsv
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let bytes = std::fs::read(dir.join("pages").join(f[0])).unwrap();
                assert_eq!(bytes.len(), f[1].parse::<usize>().unwrap(), "{}", f[0]);
                Page {
                    name: f[0].to_owned(),
                    bytes,
                    host: (f[2] != "-").then(|| f[2].to_owned()),
                    urls_on_host: f[3].parse().unwrap(),
                }
            })
            .collect();
        assert_eq!(pages.len(), 130, "the corpus has 130 pages");
        pages
    })
}

pub fn encode(enc: ContentEncoding, data: &[u8]) -> Vec<u8> {
    match enc {
        ContentEncoding::Identity => data.to_vec(),
        ContentEncoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ContentEncoding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        ContentEncoding::Brotli => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(data).unwrap();
            }
            out
        }
    }
}

/// Reference decoder (flate2's own readers and brotli's `Decompressor`);
/// panics on an invalid or incomplete stream.
pub fn decode(enc: ContentEncoding, data: &[u8]) -> Vec<u8> {
    try_decode(enc, data).unwrap_or_else(|e| panic!("output is not valid {enc}: {e}"))
}

pub fn try_decode(enc: ContentEncoding, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match enc {
        ContentEncoding::Identity => out.extend_from_slice(data),
        ContentEncoding::Gzip => {
            flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
        }
        ContentEncoding::Deflate => {
            flate2::read::ZlibDecoder::new(data).read_to_end(&mut out)?;
        }
        ContentEncoding::Brotli => {
            brotli::Decompressor::new(data, 4096).read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

/// Decodes as much of a *partial* stream as possible (for early-output
/// checks): returns the bytes decodable so far.
pub fn decode_prefix(enc: ContentEncoding, data: &[u8]) -> Vec<u8> {
    match enc {
        ContentEncoding::Identity => data.to_vec(),
        ContentEncoding::Gzip | ContentEncoding::Deflate => {
            let mut d = if enc == ContentEncoding::Gzip {
                flate2::Decompress::new_gzip(15)
            } else {
                flate2::Decompress::new(true)
            };
            let mut out = Vec::with_capacity(data.len() * 20 + 1024);
            let mut input = data;
            loop {
                out.reserve(64 << 10);
                let before = d.total_in();
                let status = d
                    .decompress_vec(input, &mut out, flate2::FlushDecompress::Sync)
                    .expect("partial stream must be valid so far");
                input = &input[(d.total_in() - before) as usize..];
                if input.is_empty() && out.capacity() > out.len()
                    || status == flate2::Status::StreamEnd
                {
                    break;
                }
            }
            out
        }
        ContentEncoding::Brotli => {
            let mut out = Vec::new();
            let mut r = brotli::Decompressor::new(data, 4096);
            let mut buf = [0u8; 4096];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    // Running out of input mid-stream is expected here.
                    Err(_) => break,
                }
            }
            out
        }
    }
}

pub fn config(
    kind: ContentKind,
    input: ContentEncoding,
    output: ContentEncoding,
    rules: RewriteRules,
) -> PipelineConfig {
    PipelineConfig::new(input, output, kind, rules)
}

/// Runs a pipeline over the given chunks into a `Vec`.
pub fn run_chunks<'a>(
    config: PipelineConfig,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, PipelineError> {
    let mut p = Pipeline::new(config, Vec::new())?;
    for c in chunks {
        p.write_chunk(c)?;
    }
    p.finish()
}

/// Runs identity-in identity-out over the whole input at once.
pub fn rewrite_whole(kind: ContentKind, rules: RewriteRules, input: &[u8]) -> Vec<u8> {
    run_chunks(
        config(
            kind,
            ContentEncoding::Identity,
            ContentEncoding::Identity,
            rules,
        ),
        [input],
    )
    .unwrap()
}

/// Checks that `output` is `input` with only rewrite-host URL prefixes
/// changed: swapping each `https://EDGE` back to the input's
/// `http(s)://host` (any case, the scheme it had) and each scheme-less
/// `//EDGE` / `\/\/EDGE` back to `//host` gives the input exactly.
///
/// The scheme needs this care because the pipeline maps both `http:` and
/// `https:` to the request scheme, so a plain string swap could not tell
/// which one the input had. Returns the number of rewritten URLs.
pub fn assert_round_trip(input: &[u8], output: &[u8], host: &str, label: &str) -> usize {
    let edge = EDGE.as_bytes();
    let host = host.as_bytes();
    let (mut i, mut o, mut n) = (0usize, 0usize, 0usize);
    for e in memchr::memmem::find_iter(output, edge) {
        let before = &output[o..e];
        let (marker, abs): (&[u8], bool) = if before.ends_with(b"https://") {
            (b"//", true)
        } else if before.ends_with(b"https:\\/\\/") {
            (b"\\/\\/", true)
        } else if before.ends_with(b"//") {
            (b"//", false)
        } else if before.ends_with(b"\\/\\/") {
            (b"\\/\\/", false)
        } else {
            panic!("{label}: edge authority at {e} is not after a URL marker");
        };
        let prefix = marker.len() + if abs { 6 } else { 0 };
        let literal = &output[o..e - prefix];
        assert!(
            input.len() >= i + literal.len() && &input[i..i + literal.len()] == literal,
            "{label}: output differs from input before output offset {} (input offset {i})",
            e - prefix
        );
        i += literal.len();
        if abs {
            let rest = &input[i..];
            let scheme = if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"https:") {
                6
            } else if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"http:") {
                5
            } else {
                panic!("{label}: rewritten absolute URL at input offset {i} had no http(s) scheme");
            };
            i += scheme;
        }
        let want = [marker, host].concat();
        let got = &input[i..(i + want.len()).min(input.len())];
        assert!(
            got.eq_ignore_ascii_case(&want),
            "{label}: input at {i} is {:?}, expected the origin URL {:?}",
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&want)
        );
        i += want.len();
        o = e + edge.len();
        n += 1;
    }
    assert!(
        output[o..] == input[i..],
        "{label}: output tail differs from input tail (input offset {i})"
    );
    n
}

/// First index where two byte strings differ, for readable assertions.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[track_caller]
pub fn assert_same(got: &[u8], want: &[u8], label: &str) {
    if let Some(at) = first_difference(got, want) {
        let ctx = |s: &[u8]| {
            String::from_utf8_lossy(&s[at.saturating_sub(40)..(at + 40).min(s.len())]).into_owned()
        };
        panic!(
            "{label}: outputs differ at byte {at} (len {} vs {}):\n got: {:?}\nwant: {:?}",
            got.len(),
            want.len(),
            ctx(got),
            ctx(want)
        );
    }
}

/// Round trip that also allows what the security rewrites add, for
/// outputs where the rewritten host may be any of `hosts`: walking input
/// and output together,
/// - every edge authority in the output aligns with a rule host in the
///   input (any case), a rewritten absolute URL's `https:` with the
///   input's `http:`/`https:`;
/// - after an edge authority, the raw prefix (`/_sluice-raw`, or
///   `\/_sluice-raw` in JSON) may follow, and then a `/` the input did not
///   have (an empty path made explicit);
/// - a source appended to a policy (` https://EDGE...` or, in an unquoted
///   attribute, `&#32;https://EDGE...`) may appear where the input has no
///   such URL;
///
/// and every other byte must be equal.
pub fn assert_round_trip_hosts(input: &[u8], output: &[u8], hosts: &[&str], label: &str) {
    let edge = EDGE.as_bytes();
    let abs_edge = format!("{SCHEME}://{EDGE}");
    let mut hosts: Vec<&[u8]> = hosts.iter().map(|h| h.as_bytes()).collect();
    hosts.sort_by_key(|h| std::cmp::Reverse(h.len()));
    let starts_ci = |s: &[u8], p: &[u8]| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    let input_url_at = |rest: &[u8]| {
        ["http://", "https://"].iter().any(|scheme| {
            starts_ci(rest, scheme.as_bytes())
                && hosts.iter().any(|h| starts_ci(&rest[scheme.len()..], h))
        })
    };
    let (mut i, mut o) = (0usize, 0usize);
    while o < output.len() {
        let out = &output[o..];
        let rest = &input[i..];
        let inserted = [&b" "[..], b"&#32;"].into_iter().find(|sep| {
            out.starts_with(sep)
                && out[sep.len()..].starts_with(abs_edge.as_bytes())
                && !(rest.starts_with(sep) && input_url_at(&rest[sep.len()..]))
        });
        if let Some(sep) = inserted {
            o += sep.len() + abs_edge.len();
            while o < output.len()
                && !matches!(
                    output[o],
                    b' ' | b'\t' | b'\n' | b';' | b'"' | b'\'' | b'&' | b'>'
                )
            {
                o += 1;
            }
            continue;
        }
        if out.starts_with(edge) {
            let host = hosts
                .iter()
                .find(|h| starts_ci(rest, h))
                .unwrap_or_else(|| {
                    panic!("{label}: rewritten URL at input {i} is not a rule host")
                });
            i += host.len();
            o += edge.len();
            for (prefix, slash) in [
                (&b"/_sluice-raw"[..], &b"/"[..]),
                (b"\\/_sluice-raw", b"\\/"),
            ] {
                if output[o..].starts_with(prefix) {
                    o += prefix.len();
                    if output[o..].starts_with(slash) && !input[i..].starts_with(slash) {
                        o += slash.len();
                    }
                    break;
                }
            }
            continue;
        }
        let after_scheme = out.get(SCHEME.len() + 1..).unwrap_or_default();
        let is_abs = out.starts_with(format!("{SCHEME}:").as_bytes())
            && (after_scheme.starts_with(b"//") && after_scheme[2..].starts_with(edge)
                || after_scheme.starts_with(b"\\/\\/") && after_scheme[4..].starts_with(edge));
        if is_abs {
            let n = if starts_ci(rest, b"https:") {
                6
            } else if starts_ci(rest, b"http:") {
                5
            } else {
                panic!("{label}: rewritten absolute URL at input {i} had no http(s) scheme")
            };
            i += n;
            o += SCHEME.len() + 1;
            continue;
        }
        assert_eq!(
            rest.first(),
            Some(&out[0]),
            "{label}: byte lost or changed at input {i} (output {o})"
        );
        i += 1;
        o += 1;
    }
    assert_eq!(i, input.len(), "{label}: input has bytes the output lost");
}
