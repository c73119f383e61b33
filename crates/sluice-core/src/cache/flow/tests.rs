//! The request's cache flow natively, over the inserter tests' recording
//! fake with a scripted lookup: what is looked up and how, what each
//! answer becomes, and what the access line says.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::access::AccessRecord;
use crate::cache::inserter::tests::{log, take_log, Fake};
use crate::http::ClientView;
use crate::settings::Settings;

/// A scripted lookup answer: the entry (metadata and facts) and whether a
/// transaction obliges the request; `Err` fails the lookup.
type Script = Result<(Option<(Vec<u8>, FoundFacts)>, bool), ()>;

thread_local! {
    static SCRIPT: RefCell<Script> = const { RefCell::new(Ok((None, true))) };
}

impl CacheRead for Fake {
    type Found = (Vec<u8>, FoundFacts);

    fn lookup(
        key: &[u8],
        vary: &[(String, String)],
        transaction: bool,
    ) -> io::Result<(Option<Self::Found>, Option<()>)> {
        log(format!(
            "lookup key={} vary={vary:?} transaction={transaction}",
            key.len()
        ));
        let (found, obliged) = SCRIPT
            .with(|s| s.borrow().clone())
            .map_err(|()| io::Error::other("lookup failed"))?;
        Ok((found, (transaction && obliged).then_some(())))
    }

    fn obliged(_: &()) -> bool {
        true
    }

    fn metadata(found: &Self::Found) -> impl AsRef<[u8]> {
        found.0.as_slice()
    }

    fn facts(found: &Self::Found) -> FoundFacts {
        found.1
    }
}

fn script(script: Script) {
    SCRIPT.with(|s| *s.borrow_mut() = script);
    take_log();
}

fn settings() -> Settings {
    let mut settings = Settings::defaults();
    settings.cache.enabled = true;
    settings.cache.vary_headers = vec!["accept-language".into()];
    settings
}

fn cx(settings: &Settings) -> Cx<'_> {
    let view = ClientView::from_connection(false, Some("edge.example"), None, None, false);
    let record = AccessRecord::for_request("GET", "/p");
    Cx::new(Instant::now(), settings, view, record)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, HeaderValue::from_str(value).unwrap());
    }
    h
}

fn look(method: &str, h: &HeaderMap, cx: &mut Cx<'_>) -> Looked<Fake> {
    let req = LookupOf {
        method,
        path: "/p",
        query: None,
        headers: h,
    };
    lookup(req, cx)
}

fn stored(fill_key: &str) -> StoredHead {
    StoredHead {
        status: 200,
        headers: vec![("etag".into(), b"\"v1\"".to_vec())],
        initial_age: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::ZERO,
        fill_key: fill_key.into(),
    }
}

fn found(stale: bool, known_length: Option<u64>, age: u64) -> (Vec<u8>, FoundFacts) {
    let facts = FoundFacts {
        stale,
        must_refresh: false,
        age: Duration::from_secs(age),
        ttl: Duration::from_secs(60),
        known_length,
    };
    (stored("sluice-fill-1").encode().unwrap(), facts)
}

/// The access line's cache fields.
fn noted(cx: &Cx<'_>) -> (Option<&'static str>, Option<&'static str>) {
    (cx.record.cache, cx.record.cache_pass)
}

#[test]
fn a_get_miss_looks_up_in_a_transaction_with_its_vary_headers_and_fills() {
    let settings = settings();
    let mut cx = cx(&settings);
    script(Ok((None, true)));
    let h = headers(&[("accept-language", "en"), ("cookie", "a=1")]);
    let Looked::Fetch { fill, delivered } = look("GET", &h, &mut cx) else {
        panic!("a miss fetches");
    };
    assert!(fill.is_some());
    assert_eq!(delivered, Delivered::Miss);
    assert_eq!(
        take_log(),
        ["lookup key=32 vary=[(\"accept-language\", \"en\")] transaction=true"]
    );
    assert_eq!(noted(&cx), (Some("MISS"), None));
}

#[test]
fn head_and_ranges_only_read_and_a_miss_then_passes_without_a_fill() {
    let settings = settings();
    for (method, h) in [
        ("HEAD", headers(&[])),
        ("GET", headers(&[("range", "bytes=0-1")])),
        ("GET", headers(&[("if-range", "\"v1\"")])),
    ] {
        let mut cx = cx(&settings);
        script(Ok((None, true)));
        let Looked::Fetch { fill, delivered } = look(method, &h, &mut cx) else {
            panic!("a miss fetches");
        };
        assert!(fill.is_none());
        assert_eq!(delivered, Delivered::Pass(PassReason::ReadOnlyMiss));
        assert!(take_log()[0].ends_with("transaction=false"));
    }
}

#[test]
fn preconditions_other_methods_and_a_disabled_cache_never_look_up() {
    let mut settings = settings();
    for (method, h, why) in [
        ("GET", headers(&[("if-match", "\"v1\"")]), "precondition"),
        ("POST", headers(&[]), "method"),
    ] {
        let mut cx = cx(&settings);
        script(Ok((None, true)));
        assert!(matches!(
            look(method, &h, &mut cx),
            Looked::Fetch { fill: None, .. }
        ));
        assert!(take_log().is_empty());
        assert_eq!(noted(&cx), (Some("PASS"), Some(why)));
    }
    settings.cache.enabled = false;
    let mut cx = cx(&settings);
    look("GET", &headers(&[]), &mut cx);
    assert_eq!(noted(&cx), (Some("PASS"), Some("disabled")));
}

#[test]
fn a_failed_lookup_goes_to_the_origin() {
    let settings = settings();
    let mut cx = cx(&settings);
    script(Err(()));
    assert!(matches!(
        look("GET", &headers(&[]), &mut cx),
        Looked::Fetch { fill: None, .. }
    ));
    assert_eq!(noted(&cx), (Some("PASS"), Some("lookup_error")));
}

#[test]
fn a_fresh_entry_is_served_and_a_current_client_copy_is_not_modified() {
    let settings = settings();
    for (inm, expected) in [("\"v1\"", true), ("\"v0\"", false)] {
        let mut cx = cx(&settings);
        script(Ok((Some(found(false, Some(10), 5)), false)));
        let h = headers(&[("if-none-match", inm)]);
        let Looked::Serve {
            head,
            delivered,
            not_modified,
            ..
        } = look("GET", &h, &mut cx)
        else {
            panic!("a fresh entry is served");
        };
        assert_eq!(head, stored("sluice-fill-1"));
        assert_eq!(delivered.as_str(), "HIT");
        assert_eq!(not_modified, expected, "{inm}");
    }
}

#[test]
fn a_stale_entry_the_request_must_refresh_fills_and_a_dead_fill_is_purged() {
    let settings = settings();
    let mut cx = cx(&settings);
    script(Ok((Some(found(true, Some(10), 90)), true)));
    let looked = look("GET", &headers(&[]), &mut cx);
    assert!(matches!(looked, Looked::Fetch { fill: Some(_), .. }));

    // Length still unknown long after the insert: the fill's guest died.
    let mut cx = self::cx(&settings);
    script(Ok((Some(found(false, None, 3_600)), false)));
    let looked = look("GET", &headers(&[]), &mut cx);
    assert!(matches!(looked, Looked::Fetch { fill: None, .. }));
    assert_eq!(take_log()[1..], ["purge sluice-fill"]);
    assert_eq!(noted(&cx), (Some("PASS"), Some("dead_fill")));
}

fn fill() -> Fill<Fake, ()> {
    Fill::new((), None)
}

fn origin<'a>(status: u16, h: &'a HeaderMap) -> OriginAnswer<'a> {
    OriginAnswer {
        status,
        headers: h,
        authorized: false,
        input: ContentEncoding::Identity,
        path: "/p",
    }
}

#[test]
fn a_storable_answer_fills_and_an_unstorable_one_passes_with_a_marker_unless_5xx() {
    let settings = settings();
    let mut cx = cx(&settings);
    take_log();
    let h = headers(&[("cache-control", "max-age=60")]);
    let asked = std::cell::Cell::new(false);
    let random = || {
        asked.set(true);
        Some([7; 16])
    };
    assert!(matches!(
        decide(fill(), origin(200, &h), random, &mut cx),
        Stored::Fill(_)
    ));
    assert!(asked.get());

    let private = headers(&[("cache-control", "private")]);
    let Stored::Pass(delivered) = decide(fill(), origin(200, &private), || None, &mut cx) else {
        panic!("private is not stored");
    };
    assert_eq!(delivered.as_str(), "PASS");
    assert_eq!(noted(&cx), (Some("PASS"), Some("private")));
    assert_eq!(take_log(), ["marker 60s"]);

    // A server error never leaves a marker.
    let no_store = headers(&[("cache-control", "no-store")]);
    decide(fill(), origin(503, &no_store), || None, &mut cx);
    assert_eq!(take_log(), ["cancel"]);
}

#[test]
fn an_identity_body_over_the_object_limit_is_not_stored() {
    let mut settings = settings();
    settings.cache.max_object_bytes = 100;
    let mut cx = cx(&settings);
    take_log();
    let h = headers(&[("cache-control", "max-age=60"), ("content-length", "101")]);
    let Stored::Pass(_) = decide(fill(), origin(200, &h), || None, &mut cx) else {
        panic!("too large");
    };
    assert_eq!(noted(&cx), (Some("PASS"), Some("too-large")));
    let mut compressed = origin(200, &h);
    compressed.input = ContentEncoding::Gzip;
    let stored = decide(fill(), compressed, || None, &mut cx);
    assert!(
        matches!(stored, Stored::Fill(_)),
        "a coded length is no bound"
    );
}
