//! The matcher's rules, and the equivalence of its fast paths (the marker
//! cursor, the piece rewrite) with plain references.

use super::*;

fn rules(hosts: &[&str]) -> RewriteRules {
    RewriteRules::new(hosts, "https", "edge.test").unwrap()
}

fn rw(r: &RewriteRules, s: &str) -> String {
    r.rewrite_str(s).into_owned()
}

#[test]
fn rewrites_absolute_relative_and_json_forms() {
    let r = rules(&["origin.example"]);
    assert_eq!(
        rw(&r, "http://origin.example/a?b#c"),
        "https://edge.test/a?b#c"
    );
    assert_eq!(rw(&r, "HTTPS://ORIGIN.EXAMPLE/A"), "https://edge.test/A");
    assert_eq!(rw(&r, "//origin.example/x"), "//edge.test/x");
    assert_eq!(
        rw(&r, r"https:\/\/origin.example\/x"),
        r"https:\/\/edge.test\/x"
    );
    assert_eq!(rw(&r, r"\/\/origin.example\/x"), r"\/\/edge.test\/x");
    assert_eq!(rw(&r, "url(//origin.example)"), "url(//edge.test)");
    assert_eq!(
        rw(&r, "a https://origin.example. b"),
        "a https://edge.test. b"
    );
}

#[test]
fn leaves_lookalikes_alone() {
    let r = rules(&["origin.example"]);
    for s in [
        "https://cdn.origin.example/",
        "https://origin.example.evil.com/",
        "https://origin.examples/",
        "https://origin.example-cdn.net/",
        "https://notorigin.example/",
        "https://user@origin.example.evil/",
        "https://origin.example@evil.com/",
        "https://origin.example:8080/",
        "https://origin.example%2eevil.com/",
        "ftp://origin.example/",
        "ws://origin.example/",
        "origin.example/path",
        "mailto:me@origin.example",
    ] {
        assert_eq!(rw(&r, s), s, "{s}");
    }
}

#[test]
fn never_rewrites_twice_or_inside_a_longer_host() {
    let r = rules(&["example.com", "www.example.com"]);
    assert_eq!(rw(&r, "https://www.example.com/"), "https://edge.test/");
    assert_eq!(rw(&r, "https://example.com/"), "https://edge.test/");
    let r = rules(&["example.com"]);
    assert_eq!(
        rw(&r, "https://www.example.com/"),
        "https://www.example.com/"
    );
}

#[test]
fn ports_must_match_the_rule() {
    let r = rules(&["origin.example:8080"]);
    assert_eq!(
        rw(&r, "http://origin.example:8080/x"),
        "https://edge.test/x"
    );
    assert_eq!(
        rw(&r, "http://origin.example:80801/x"),
        "http://origin.example:80801/x"
    );
    assert_eq!(rw(&r, "http://origin.example/x"), "http://origin.example/x");
    let r = rules(&["origin.example"]);
    assert_eq!(
        rw(&r, "{\"a\":\"//origin.example\":1}"),
        "{\"a\":\"//edge.test\":1}"
    );
}

#[test]
fn validates_configuration() {
    assert!(RewriteRules::new(["a.example"], "ftp", "e").is_err());
    assert!(RewriteRules::new(["a.example"], "https", "e/x").is_err());
    assert!(RewriteRules::new(["a.example"], "https", "").is_err());
    for bad in [
        "", "a/b", "a b", ".a", "a..b", "a:", "a:x", "a:123456", "[::1", "[zz]",
    ] {
        assert!(RewriteRules::new([bad], "https", "e").is_err(), "{bad:?}");
    }
    let r = RewriteRules::new(["A.Example", "a.example", "[::1]:8080"], "HTTP", "e:1").unwrap();
    assert_eq!(r.hosts().collect::<Vec<_>>(), ["[::1]:8080", "a.example"]);
    assert_eq!(r.scheme(), "http");
    assert!(RewriteRules::new(Vec::<String>::new(), "https", "e")
        .unwrap()
        .is_empty());
}

#[test]
fn hosts_must_be_hosts_a_url_can_have() {
    let reason = |host: &str| match RewriteRules::new([host], "https", "e") {
        Err(PipelineConfigError::InvalidHost { reason, .. }) => Some(reason),
        Err(e) => panic!("{host:?}: {e}"),
        Ok(_) => None,
    };
    // The WHATWG host parser refuses these, so no page links to them.
    for (bad, why) in [
        ("[1:2:3]", "invalid IPv6 literal"),
        ("[::1::2]:8080", "invalid IPv6 literal"),
        ("foo.123", "not a valid URL host"),
        ("256.1.1.1", "not a valid URL host"),
        ("1.2.3.4.5:80", "not a valid URL host"),
        ("xn--a.example", "not a valid URL host"),
    ] {
        assert_eq!(reason(bad), Some(why), "{bad:?}");
    }
    // Still accepted, and matched as configured (the parser only validates).
    for good in [
        "[::1]",
        "[2001:db8::1]:8443",
        "127.0.0.1:8080",
        "a_b.example",
        "-a.example",
        "xn--bcher-kva.example",
        "localhost",
    ] {
        assert_eq!(reason(good), None, "{good:?}");
        let r = rules(&[good]);
        let url = format!("https://{good}/x");
        assert_eq!(rw(&r, &url), "https://edge.test/x", "{good:?}");
    }
}

/// What [`RewriteRules::rewrite_piece`] must give for a piece on its
/// own: the matches of the stop-at-every-slash reference, applied.
fn rewrite_reference(r: &RewriteRules, buf: &[u8]) -> (Vec<u8>, u64) {
    let (mut out, mut from, mut count) = (Vec::new(), 0, 0);
    while let Found::Match {
        start,
        end,
        replacement,
    } = next_match_reference(r, buf, from, from, true)
    {
        out.extend_from_slice(&buf[from..start]);
        out.extend_from_slice(replacement);
        from = end;
        count += 1;
    }
    out.extend_from_slice(&buf[from..]);
    (out, count)
}

/// Rewrites consecutive pieces of `buf` (cut at `bounds`) with one
/// shared cursor, checking each against the piece rewritten alone.
fn check_pieces(r: &RewriteRules, buf: &[u8], bounds: &[usize]) -> Result<(), String> {
    let mut markers = Markers::default();
    for w in bounds.windows(2) {
        let piece = &buf[w[0]..w[1]];
        let mut out = b"kept".to_vec();
        let count = r.rewrite_piece(&mut markers, buf, w[0], w[1], &mut out);
        let (want, want_count) = rewrite_reference(r, piece);
        let want = if want_count == 0 {
            b"kept".to_vec()
        } else {
            [&b"kept"[..], &want].concat()
        };
        if count != want_count || out != want {
            return Err(format!(
                "{:?} in {:?}: got {count} {:?}, want {want_count} {:?}",
                String::from_utf8_lossy(piece),
                String::from_utf8_lossy(buf),
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&want),
            ));
        }
    }
    Ok(())
}

#[test]
fn rewrite_piece_agrees_with_the_reference() {
    let r = rules(&[
        "origin.example",
        "www.origin.example",
        "origin.example:8080",
    ]);
    let cases: &[&[u8]] = &[
        b"",
        b"/",
        b"//",
        b"\\/\\/",
        b"<a href=\"https://origin.example/\">",
        b"<a href=\"/a/b/c\" data-x='//cdn.origin.example/'>",
        b"<a href=//origin.example.evil.com/>",
        b"<img src=///origin.example>",
        b"<i x='\\/\\/www.origin.example\\/'>",
        b"<i x='https:\\/\\/ORIGIN.EXAMPLE'>",
        b"<i x='ftp://origin.example' y='ws://origin.example'>",
        b"<i x='ftp://origin.example' y='//origin.example'>",
        b"<i x='//origin.example:8080/'>",
        b"<i x='//origin.example:9/'>",
        b"<i x='//origin.example@evil'>",
        b"//origin.example",
        b"\\//origin.example",
        b"\\/\\//origin.example",
    ];
    for &case in cases {
        check_pieces(&r, case, &[0, case.len()]).unwrap();
    }
    // The same cases as tags of one chunk, sharing a cursor.
    let joined = cases.concat();
    let mut bounds = vec![0];
    for case in cases {
        bounds.push(bounds[bounds.len() - 1] + case.len());
    }
    check_pieces(&r, &joined, &bounds).unwrap();
    // A marker or host cut by the end of a piece is not in the piece.
    let cut: &[u8] = b"a //origin.example b \\/\\/origin.example c";
    for k in 0..=cut.len() {
        check_pieces(&r, cut, &[0, k, cut.len()]).unwrap();
    }
    check_pieces(&rules(&[]), b"//origin.example", &[0, 16]).unwrap();
}

/// The rewrite hosts of the property tests: one the tail of another's
/// name, one with a port, and a one-letter host that occurs everywhere.
const PROP_HOSTS: [&str; 3] = ["o.e", "ox.e:8", "e"];

/// Buffers of up to `max_tokens` pieces that URLs, their look-alikes
/// and tags are made of, for the property tests.
fn url_soup(max_tokens: usize) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::strategy::Strategy;
    proptest::collection::vec(
        proptest::sample::select(vec![
            "/", "//", "\\", "\\/", "\\/\\/", "http:", "HTTPS:", "ftp:", "o.e", "O.E", "ox.e:8",
            "e", ".", "x", "@", ":8", "-", " ", "<", ">",
        ]),
        0..max_tokens,
    )
    .prop_map(|tokens| tokens.concat().into_bytes())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    /// Rewriting consecutive pieces of one buffer with one shared
    /// cursor gives, for each piece, what the piece gives on its own.
    #[test]
    fn rewrite_piece_agrees_with_the_piece_alone(
        bytes in url_soup(32),
        cuts in proptest::collection::vec(0usize..64, 0..8),
    ) {
        let r = rules(&PROP_HOSTS);
        let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        bounds.push(0);
        bounds.push(bytes.len());
        bounds.sort_unstable();
        bounds.dedup();
        if let Err(e) = check_pieces(&r, &bytes, &bounds) {
            proptest::prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn need_more_only_when_undecidable() {
    let r = rules(&["origin.example"]);
    let buf = b"x //origin.exa";
    assert_eq!(r.next_match(buf, 0, 0, false), Found::NeedMore { at: 2 });
    assert_eq!(r.next_match(buf, 0, 0, true), Found::Exhausted);
    assert_eq!(r.next_match(b"x //other", 0, 0, false), Found::Exhausted);
    assert_eq!(
        r.next_match(b"//origin.example.", 0, 0, false),
        Found::NeedMore { at: 0 }
    );
}

/// Marker discovery as it was before [`Markers`]: a stop at every `/`.
/// Kept as the reference the substring-search cursor must agree with;
/// the decision at each marker is the shared [`RewriteRules::at_marker`].
fn next_match_reference<'r>(
    r: &'r RewriteRules,
    buf: &[u8],
    from: usize,
    floor: usize,
    eof: bool,
) -> Found<'r> {
    if r.is_empty() || from >= buf.len() {
        return Found::Exhausted;
    }
    for j in memchr::memchr_iter(b'/', &buf[from..]).map(|j| j + from) {
        let (i, marker_len, json) = match buf.get(j + 1) {
            Some(b'/') => (j, 2, false),
            Some(b'\\') if j > from && buf[j - 1] == b'\\' && buf.get(j + 2) == Some(&b'/') => {
                (j - 1, 4, true)
            }
            _ => continue,
        };
        if let Some(found) = r.at_marker(buf, i, marker_len, json, floor, eof) {
            return found;
        }
    }
    Found::Exhausted
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
    /// Walking a buffer match by match (as the replacer does, one
    /// cursor per buffer) finds exactly what the stop-at-every-slash
    /// reference finds, including `NeedMore` at the end of a chunk.
    #[test]
    fn marker_cursor_agrees_with_the_reference(bytes in url_soup(24), eof: bool) {
        let r = rules(&PROP_HOSTS);
        let (mut from, mut floor) = (0, 0);
        let mut markers = Markers::default();
        loop {
            let got = r.next_match_in(&mut markers, &bytes, from, floor, eof);
            let want = next_match_reference(&r, &bytes, from, floor, eof);
            proptest::prop_assert_eq!(&got, &want);
            match got {
                Found::Match { end, .. } => {
                    from = end;
                    floor = end;
                }
                Found::NeedMore { .. } | Found::Exhausted => break,
            }
        }
    }
}

fn raw(r: &RewriteRules, s: &str) -> String {
    let mut out = Vec::new();
    if r.rewrite_piece_raw(s.as_bytes(), 0, s.len(), &mut out) == 0 {
        return s.to_owned();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn raw_form_puts_the_prefix_before_the_origin_path() {
    let r = rules(&["origin.example", "origin.example:8080"]);
    for (from, to) in [
        (
            "<script src=\"https://origin.example/app.js?v=1\" integrity=x>",
            "<script src=\"https://edge.test/_sluice-raw/app.js?v=1\" integrity=x>",
        ),
        (
            "<link href='//ORIGIN.EXAMPLE/a/b.css'>",
            "<link href='//edge.test/_sluice-raw/a/b.css'>",
        ),
        (
            "http://origin.example:8080/x",
            "https://edge.test/_sluice-raw/x",
        ),
        // An empty path is `/`; the prefix is always followed by one.
        ("https://origin.example", "https://edge.test/_sluice-raw/"),
        (
            "https://origin.example?q=1",
            "https://edge.test/_sluice-raw/?q=1",
        ),
        (
            "'https://origin.example'",
            "'https://edge.test/_sluice-raw/'",
        ),
        (
            r"https:\/\/origin.example\/a.js",
            r"https:\/\/edge.test\/_sluice-raw\/a.js",
        ),
        (r"\/\/origin.example", r"\/\/edge.test\/_sluice-raw\/"),
        // Look-alikes stay, as in the ordinary form.
        (
            "https://cdn.origin.example/a.js",
            "https://cdn.origin.example/a.js",
        ),
        (
            "https://origin.example:9/a.js",
            "https://origin.example:9/a.js",
        ),
    ] {
        assert_eq!(raw(&r, from), to, "{from}");
    }
    // Every raw URL's path is one the router accepts, giving the
    // origin's path back.
    let url = raw(&r, "https://origin.example/a/b.js?x");
    let path = url.strip_prefix("https://edge.test").unwrap();
    assert_eq!(
        crate::rewrite::raw::strip_raw_prefix(path),
        Some("/a/b.js?x")
    );
}
