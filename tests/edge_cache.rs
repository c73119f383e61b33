//! Issue 18: the edge cache, end to end under Viceroy against sluice-origin.
//!
//! One test per acceptance point. Every page is a generated document
//! (`/gen/html/N`) whose caching headers come from the origin's `h=`
//! option; a `t=` tag in the query gives each test its own cache key, and
//! the origin's `request` events (filtered by that tag) count what reached
//! the origin. Bodies are checked byte for byte against the rewritten
//! document (`GenDoc::checker`).
// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{mpsc, Barrier};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sluice_e2e::bigbody::{hex, Conn};
use sluice_e2e::http::{get, request, Resp, Timed};
use sluice_e2e::{EdgeConfig, Stack};
use sluice_origin::content::{GenDoc, GenKind, UrlForms};

/// The bearer token the purge route accepts in these tests.
const PURGE_TOKEN: &str = "purge-token-for-the-e2e-tests";

/// A stack whose purge route accepts [`PURGE_TOKEN`].
fn cache_stack() -> Stack {
    cache_stack_with(|c| c)
}

/// [`cache_stack`] with an adjusted config.
fn cache_stack_with(adjust: impl FnOnce(EdgeConfig) -> EdgeConfig) -> Stack {
    let digest = hex(&Sha256::digest(PURGE_TOKEN.as_bytes()));
    Stack::start_with(|c: EdgeConfig| adjust(c.secret("purge_token_sha256", &digest)))
}

/// Percent-encodes a query value (spaces, `;`, `&`, `+`...), leaving the
/// characters header values here use readable.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            b'-' | b'.' | b'_' | b'~' | b':' | b'=' | b',' | b'/' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/gen/html/{n}?t={tag}&h=...` (each header `Name:Value`).
fn page(n: u64, tag: &str, headers: &[&str]) -> String {
    let mut url = format!("/gen/html/{n}?t={tag}");
    for h in headers {
        url += &format!("&h={}", enc(h));
    }
    url
}

/// The path part of a page URL.
fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The document the edge must send for `/gen/html/{n}` when the client
/// used `authority`.
fn rewritten(n: u64, authority: &str) -> GenDoc {
    GenDoc::new(GenKind::Html, "origin.example", n)
        .with_urls(UrlForms::rewritten("http", authority))
}

/// Asserts `body` is exactly the rewritten document.
fn assert_doc(body: &[u8], doc: &GenDoc, what: &str) {
    let mut check = doc.checker();
    check
        .feed(body)
        .unwrap_or_else(|e| panic!("{what}: not the rewritten document: {e:?}"));
    check
        .finish()
        .unwrap_or_else(|e| panic!("{what}: incomplete document: {e:?}"));
}

/// Requests that reached the origin carrying `t={tag}`, in order, as
/// their methods.
fn origin_requests(stack: &Stack, tag: &str) -> Vec<String> {
    let wanted = format!("t={tag}");
    stack
        .origin
        .events()
        .iter()
        .filter(|e| e["kind"] == "request")
        .filter(|e| {
            e["detail"]["query"]
                .as_str()
                .is_some_and(|q| q.split('&').any(|p| p == wanted))
        })
        .filter_map(|e| e["detail"]["method"].as_str().map(str::to_owned))
        .collect()
}

/// `X-Cache` of a response.
fn x_cache(resp: &Resp) -> &str {
    resp.header("x-cache").unwrap_or("(none)")
}

/// The `cache;desc=` entry of `Server-Timing`.
fn cache_desc(resp: &Resp) -> Option<String> {
    resp.header_all("server-timing")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|e| e.strip_prefix("cache;desc=").map(str::to_owned))
}

/// A request and the access line it produced (requests must be
/// sequential on this edge).
fn with_record(stack: &Stack, send: impl FnOnce() -> Resp) -> (Resp, serde_json::Value) {
    // An earlier streamed response reaches its client before the guest
    // writes its access line: wait until the count settles, so the next
    // line is this request's.
    let mut before = stack.edge.access_records().len();
    loop {
        std::thread::sleep(Duration::from_millis(150));
        let now = stack.edge.access_records().len();
        if now == before {
            break;
        }
        before = now;
    }
    let resp = send();
    let records = stack
        .edge
        .wait_access_records(before + 1, Duration::from_secs(10));
    let record = records
        .get(before)
        .cloned()
        .unwrap_or_else(|| panic!("no access line after {before}: {records:?}"));
    (resp, record)
}

/// The `sluice_id` value a response sets, if any.
fn sluice_id(resp: &Resp) -> Option<String> {
    resp.header_all("set-cookie").iter().find_map(|c| {
        c.strip_prefix("sluice_id=")
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
    })
}

/// Sends a purge with `token` (none: no `Authorization`).
fn purge(stack: &Stack, token: Option<&str>, body: &str) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth.as_deref() {
        headers.push(("authorization", a));
    }
    request(
        "POST",
        &stack.edge.url("/_sluice/purge"),
        &headers,
        Some(body.as_bytes()),
    )
}

fn median(mut xs: Vec<u64>) -> u64 {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

/// One client's view of a streamed response.
struct Reading {
    status: u16,
    x_cache: Option<String>,
    body: Vec<u8>,
    /// When the first body byte arrived.
    first_byte: Option<Instant>,
    /// When the body ended (cleanly or not).
    ended: Instant,
    error: Option<String>,
}

/// GETs `url`, timing the first body byte and the end.
fn read_timed(url: &str, headers: &[(&str, &str)]) -> Reading {
    let mut t = Timed::get(url, headers);
    let mut body = Vec::new();
    let mut first_byte = None;
    let error = loop {
        match t.read_some() {
            Ok((b, _)) if b.is_empty() => break None,
            Ok((b, at)) => {
                first_byte.get_or_insert(at);
                body.extend_from_slice(&b);
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    Reading {
        status: t.status,
        x_cache: t.header("x-cache").map(str::to_owned),
        body,
        first_byte,
        ended: Instant::now(),
        error,
    }
}

// ---------------------------------------------------------------------
// Hits
// ---------------------------------------------------------------------

#[test]
fn second_get_is_a_byte_identical_hit_with_age_and_costs_no_more_vcpu_than_a_pass() {
    let stack = cache_stack();
    let authority = stack.edge.addr.to_string();
    // 512 KiB: the rewrite costs many whole milliseconds, so a hit's
    // saving shows in the access line's millisecond readings.
    let n = 512 << 10;
    let doc = rewritten(n, &authority);
    let (mut miss_vcpu, mut hit_vcpu, mut pass_vcpu) = (Vec::new(), Vec::new(), Vec::new());
    // Rounds interleave miss, hit and pass-through, so the machine's load
    // hits all three alike; medians over nine of each.
    for i in 0..9 {
        let tag = format!("seq-{i}");
        let url = stack
            .edge
            .url(&page(n, &tag, &["Cache-Control:max-age=300"]));
        let (miss, miss_rec) = with_record(&stack, || get(&url, &[]));
        assert_eq!(miss.status, 200);
        assert_eq!(x_cache(&miss), "MISS");
        assert_eq!(cache_desc(&miss).as_deref(), Some("miss"));
        assert!(miss.header("age").is_none(), "a miss has no Age");
        assert_doc(&miss.body, &doc, "miss");
        assert_eq!(miss_rec["cache"], "MISS", "{miss_rec}");

        let (hit, hit_rec) = with_record(&stack, || get(&url, &[]));
        assert_eq!(hit.status, 200);
        assert_eq!(x_cache(&hit), "HIT");
        assert_eq!(cache_desc(&hit).as_deref(), Some("hit"));
        assert!(hit.body_error.is_none(), "{:?}", hit.body_error);
        assert!(hit.body == miss.body, "the hit differs from the miss");
        let age: u64 = hit
            .header("age")
            .expect("a hit carries Age")
            .parse()
            .expect("Age is seconds");
        assert!(age <= 5, "Age {age}");
        assert_eq!(
            hit.header("content-length"),
            Some(hit.body.len().to_string().as_str()),
            "a complete entry knows its length"
        );
        for name in ["content-type", "etag", "last-modified", "cache-control"] {
            assert_eq!(hit.header_all(name), miss.header_all(name), "{name}");
        }
        assert_eq!(hit_rec["cache"], "HIT", "{hit_rec}");
        assert_eq!(hit_rec["mode"], "cache", "{hit_rec}");
        assert_eq!(
            origin_requests(&stack, &tag),
            ["GET"],
            "the origin is asked once"
        );

        // A pass-through of the same size: the floor a hit must match.
        let pass_url = stack.edge.url(&format!(
            "/gen/html/{n}?t=pass-{i}&ct=application/octet-stream"
        ));
        let (pass, pass_rec) = with_record(&stack, || get(&pass_url, &[]));
        assert_eq!(pass.status, 200);
        assert_eq!(pass.body.len() as u64, n);
        assert_eq!(pass_rec["mode"], "passthrough", "{pass_rec}");

        for (rec, into) in [
            (&miss_rec, &mut miss_vcpu),
            (&hit_rec, &mut hit_vcpu),
            (&pass_rec, &mut pass_vcpu),
        ] {
            into.push(rec["vcpu_ms"].as_u64().expect("vcpu_ms in the access line"));
        }
    }
    eprintln!("vcpu_ms: miss {miss_vcpu:?}, hit {hit_vcpu:?}, pass-through {pass_vcpu:?}");
    let (miss, hit, pass) = (median(miss_vcpu), median(hit_vcpu), median(pass_vcpu));
    assert!(
        hit <= pass,
        "a hit's median vCPU ({hit} ms) is above a pass-through's ({pass} ms)"
    );
    assert!(
        hit < miss,
        "a hit's median vCPU ({hit} ms) is not below a miss's ({miss} ms)"
    );
}

#[test]
fn fifty_concurrent_cold_gets_share_one_streaming_origin_fetch() {
    let stack = cache_stack();
    let n = 200_000;
    let tag = "burst";
    // 32 KiB, then the origin pauses 3 s before the rest.
    let url = stack.edge.url(&format!(
        "{}&pause_after=32768&pause_ms=3000",
        page(n, tag, &["Cache-Control:max-age=300"])
    ));
    let clients = 50;
    let barrier = Barrier::new(clients);
    let started = Instant::now();
    let readings: Vec<Reading> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    read_timed(&url, &[])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(origin_requests(&stack, tag), ["GET"], "one origin fetch");
    let doc = rewritten(n, &stack.edge.addr.to_string());
    for (i, r) in readings.iter().enumerate() {
        assert_eq!(r.status, 200, "client {i}");
        assert!(r.error.is_none(), "client {i}: {:?}", r.error);
        assert!(r.body == readings[0].body, "client {i}'s body differs");
    }
    assert_doc(&readings[0].body, &doc, "the shared body");
    let misses = readings
        .iter()
        .filter(|r| r.x_cache.as_deref() == Some("MISS"))
        .count();
    let hits = readings
        .iter()
        .filter(|r| r.x_cache.as_deref() == Some("HIT"))
        .count();
    assert_eq!(
        (misses, hits),
        (1, clients - 1),
        "one filler, the rest read its entry"
    );
    // Every client's first byte came while the origin was still paused.
    let last_first = readings
        .iter()
        .map(|r| r.first_byte.expect("a first byte"))
        .max()
        .unwrap();
    let first_end = readings.iter().map(|r| r.ended).min().unwrap();
    let firsts: Vec<u128> = readings
        .iter()
        .map(|r| (r.first_byte.unwrap() - started).as_millis())
        .collect();
    eprintln!(
        "first bytes (ms after start): {firsts:?}; first end at {} ms",
        (first_end - started).as_millis()
    );
    assert!(
        first_end - started >= Duration::from_millis(2900),
        "the origin's pause was not observed"
    );
    assert!(
        last_first + Duration::from_millis(1500) < first_end,
        "the last client's first byte ({} ms) came less than 1.5 s before the origin finished ({} ms)",
        (last_first - started).as_millis(),
        (first_end - started).as_millis()
    );
}

#[test]
fn two_edge_authorities_get_two_entries_each_rewritten_to_its_own_host() {
    let stack = cache_stack();
    let n = 100_000;
    let tag = "hosts";
    let url = page(n, tag, &["Cache-Control:max-age=300"]);
    let fetch = |host: &str| {
        let mut conn = Conn::open_as(stack.edge.addr, host, "GET", &url, &[]).expect("connect");
        let head = conn.read_head().expect("head");
        let body = conn.read_small_body(head.framing("GET")).expect("body");
        (head, body)
    };
    let hosts = ["a.example:8080", "b.example"];
    let mut firsts = Vec::new();
    for host in hosts {
        let (head, body) = fetch(host);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("x-cache"), Some("MISS"), "{host}");
        assert_doc(&body, &rewritten(n, host), host);
        firsts.push(body);
    }
    assert!(firsts[0] != firsts[1]);
    for (host, first) in hosts.iter().zip(&firsts) {
        let (head, body) = fetch(host);
        assert_eq!(head.header("x-cache"), Some("HIT"), "{host}");
        assert!(&body == first, "{host}: the hit is another host's entry");
    }
    assert_eq!(origin_requests(&stack, tag), ["GET", "GET"]);
}

// ---------------------------------------------------------------------
// Not stored
// ---------------------------------------------------------------------

/// Two GETs of a page with `headers`: both go to the origin, both say
/// `PASS` with `reason`.
fn assert_not_stored(tag: &str, headers: &[&str], req: &[(&str, &str)], reason: &str) -> Stack {
    let stack = cache_stack();
    let n = 20_000;
    let url = stack.edge.url(&page(n, tag, headers));
    let doc = rewritten(n, &stack.edge.addr.to_string());
    for i in 0..2 {
        let (resp, rec) = with_record(&stack, || get(&url, req));
        assert_eq!(resp.status, 200);
        assert_eq!(x_cache(&resp), "PASS", "request {i}");
        assert_eq!(
            cache_desc(&resp).as_deref(),
            Some(format!("pass-{reason}").as_str()),
            "request {i}"
        );
        assert!(resp.header("age").is_none());
        assert_doc(&resp.body, &doc, tag);
        assert_eq!(rec["cache"], "PASS", "{rec}");
        assert_eq!(rec["cache_pass"], reason, "{rec}");
    }
    assert_eq!(origin_requests(&stack, tag), ["GET", "GET"]);
    stack
}

#[test]
fn private_is_not_stored() {
    assert_not_stored(
        "private",
        &["Cache-Control:private, max-age=60"],
        &[],
        "private",
    );
}

#[test]
fn no_store_is_not_stored() {
    assert_not_stored(
        "no-store",
        &["Cache-Control:no-store, max-age=60"],
        &[],
        "no-store",
    );
}

#[test]
fn origin_set_cookie_is_not_stored() {
    let stack = assert_not_stored(
        "cookie",
        &["Cache-Control:max-age=60", "Set-Cookie:theme=dark; Path=/"],
        &[],
        "set-cookie",
    );
    // The visitor still gets the origin's cookie.
    let resp = get(
        &stack.edge.url(&page(
            20_000,
            "cookie",
            &["Cache-Control:max-age=60", "Set-Cookie:theme=dark; Path=/"],
        )),
        &[],
    );
    assert!(resp
        .header_all("set-cookie")
        .iter()
        .any(|c| c.starts_with("theme=dark")));
}

#[test]
fn vary_star_is_not_stored() {
    assert_not_stored(
        "vary-star",
        &["Cache-Control:max-age=60", "Vary:*"],
        &[],
        "vary-star",
    );
}

#[test]
fn a_request_with_authorization_is_not_stored_unless_the_response_is_public() {
    let auth = [("authorization", "Bearer visitor-secret")];
    let stack = assert_not_stored(
        "auth",
        &["Cache-Control:max-age=60"],
        &auth,
        "authorization",
    );
    // No hit-for-pass marker came of it: the reason was this request's.
    let url = stack
        .edge
        .url(&page(20_000, "auth", &["Cache-Control:max-age=60"]));
    assert_eq!(x_cache(&get(&url, &[])), "MISS");
    assert_eq!(x_cache(&get(&url, &[])), "HIT");

    // `public` allows a shared cache to store it (RFC 9111 §3.5).
    let public = stack.edge.url(&page(
        20_000,
        "auth-public",
        &["Cache-Control:public, max-age=60"],
    ));
    let first = get(&public, &auth);
    assert_eq!(x_cache(&first), "MISS");
    let again = get(&public, &auth);
    assert_eq!(x_cache(&again), "HIT");
    assert!(again.body == first.body);
    assert_eq!(origin_requests(&stack, "auth-public"), ["GET"]);
}

#[test]
fn vary_accept_language_keeps_the_variants_apart() {
    let stack = cache_stack();
    let tag = "vary-lang";
    let url = stack.edge.url(&page(
        20_000,
        tag,
        &["Cache-Control:max-age=300", "Vary:Accept-Language"],
    ));
    let lang = |l: &str| get(&url, &[("accept-language", l)]);
    assert_eq!(x_cache(&lang("en")), "MISS");
    assert_eq!(x_cache(&lang("fr")), "MISS");
    assert_eq!(origin_requests(&stack, tag).len(), 2);
    assert_eq!(x_cache(&lang("en")), "HIT");
    assert_eq!(x_cache(&lang("fr")), "HIT");
    // Language tags are case-insensitive: the same variant.
    assert_eq!(x_cache(&lang("EN")), "HIT");
    // No Accept-Language at all is a variant of its own.
    assert_eq!(x_cache(&get(&url, &[])), "MISS");
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
    assert_eq!(origin_requests(&stack, tag).len(), 3);
}

// ---------------------------------------------------------------------
// Per-visitor parts
// ---------------------------------------------------------------------

#[test]
fn every_visitor_gets_its_own_id_on_a_hit_and_the_entry_holds_no_cookie() {
    let stack = cache_stack();
    let tag = "visitors";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=300"]));
    let first = get(&url, &[]);
    assert_eq!(x_cache(&first), "MISS");
    let mut ids = vec![sluice_id(&first).expect("the first visitor gets an ID")];
    for _ in 0..3 {
        let resp = get(&url, &[]);
        assert_eq!(x_cache(&resp), "HIT");
        let id = sluice_id(&resp).expect("a new visitor gets an ID on a hit");
        assert!(!ids.contains(&id), "an ID was handed out twice: {id}");
        assert!(
            resp.header("cache-control")
                .is_some_and(|c| c.starts_with("private")),
            "a response issuing an ID is private: {:?}",
            resp.header("cache-control")
        );
        assert!(resp.body == first.body);
        ids.push(id);
    }
    // A returning visitor: the entry itself carries no cookie and is not
    // private (the origin's own Cache-Control).
    let back = get(&url, &[("cookie", &format!("sluice_id={}", ids[0]))]);
    assert_eq!(x_cache(&back), "HIT");
    assert!(
        back.header_all("set-cookie").is_empty(),
        "{:?}",
        back.header_all("set-cookie")
    );
    assert_eq!(back.header("cache-control"), Some("max-age=300"));
    assert!(back.body == first.body);
    assert_eq!(origin_requests(&stack, tag), ["GET"]);
}

// ---------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------

#[test]
fn origin_reset_mid_fill_aborts_the_filler_and_ten_followers_then_the_next_get_is_a_clean_miss() {
    let stack = cache_stack();
    let n = 200_000;
    let tag = "reset";
    // 32 KiB, a 1.5 s pause (the followers arrive), 64 KiB, then a reset;
    // only the first request carrying the token is cut.
    let url = stack.edge.url(&format!(
        "{}&pause_after=32768&pause_ms=1500&reset_after=65536&once=reset-fill",
        page(n, tag, &["Cache-Control:max-age=300"])
    ));
    let doc = rewritten(n, &stack.edge.addr.to_string());
    let (tx, rx) = mpsc::channel();
    let barrier = Barrier::new(10);
    let (leader, followers) = std::thread::scope(|s| {
        let leader = s.spawn(|| {
            let mut t = Timed::get(&url, &[]);
            let mut body = Vec::new();
            let mut told = false;
            let error = loop {
                match t.read_some() {
                    Ok((b, _)) if b.is_empty() => break None,
                    Ok((b, _)) => {
                        body.extend_from_slice(&b);
                        if !told {
                            told = true;
                            tx.send(()).unwrap();
                        }
                    }
                    Err(e) => break Some(e.to_string()),
                }
            };
            (
                t.status,
                t.header("x-cache").map(str::to_owned),
                body,
                error,
            )
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the filler's first byte");
        let followers: Vec<_> = (0..10)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    read_timed(&url, &[])
                })
            })
            .collect();
        let followers: Vec<Reading> = followers.into_iter().map(|h| h.join().unwrap()).collect();
        (leader.join().unwrap(), followers)
    });
    let (status, x, body, error) = leader;
    assert_eq!(status, 200);
    assert_eq!(x.as_deref(), Some("MISS"));
    assert!(
        error.is_some(),
        "the filler got a clean end after {} bytes",
        body.len()
    );
    let mut check = doc.checker();
    check
        .feed(&body)
        .expect("what arrived is the document's prefix");
    assert!(body.len() >= 32_768);
    for (i, f) in followers.iter().enumerate() {
        assert_eq!(f.status, 200, "follower {i}");
        assert_eq!(
            f.x_cache.as_deref(),
            Some("HIT"),
            "follower {i} read the fill"
        );
        assert!(
            f.error.is_some(),
            "follower {i} got a clean-looking truncation of {} bytes",
            f.body.len()
        );
        let mut check = doc.checker();
        check.feed(&f.body).expect("a prefix of the document");
    }
    assert_eq!(
        origin_requests(&stack, tag),
        ["GET"],
        "followers were collapsed"
    );
    assert!(stack
        .edge
        .access_records()
        .iter()
        .any(|r| r["abort"] == "origin_read"));

    // The broken entry was dropped: a fresh miss fills it, then it hits.
    let next = get(&url, &[]);
    assert_eq!(x_cache(&next), "MISS", "the broken fill poisoned the key");
    assert!(next.body_error.is_none(), "{:?}", next.body_error);
    assert_doc(&next.body, &doc, "the refetch");
    let hit = get(&url, &[]);
    assert_eq!(x_cache(&hit), "HIT");
    assert!(hit.body == next.body);
    assert_eq!(origin_requests(&stack, tag), ["GET", "GET"]);
}

#[test]
fn concurrent_gets_of_an_uncacheable_page_are_not_serialised() {
    let stack = cache_stack();
    let tag = "hit-for-pass";
    // The origin's head takes 1 s, and the store-or-pass decision is made
    // on the head: queued one behind the other, eight would take 8 s.
    let url = stack.edge.url(&format!(
        "{}&head_delay_ms=1000",
        page(
            20_000,
            tag,
            &["Cache-Control:max-age=60", "Set-Cookie:session=1; Path=/"]
        )
    ));
    let clients = 8;
    let barrier = Barrier::new(clients);
    let started = Instant::now();
    let resps: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    get(&url, &[])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let took = started.elapsed();
    for r in &resps {
        assert_eq!(r.status, 200);
        assert_eq!(x_cache(r), "PASS");
        assert_eq!(cache_desc(r).as_deref(), Some("pass-set-cookie"));
    }
    assert_eq!(origin_requests(&stack, tag).len(), clients);
    assert!(
        took < Duration::from_secs(4),
        "{clients} requests of a 1 s page took {took:?}: serialised"
    );
}

#[test]
fn stale_while_revalidate_serves_the_old_entry_while_one_request_refreshes() {
    let stack = cache_stack();
    let tag = "swr";
    // The origin takes 1.5 s; the entry is fresh for 1 s.
    let url = stack.edge.url(&format!(
        "{}&pause_after=0&pause_ms=1500",
        page(
            20_000,
            tag,
            &["Cache-Control:max-age=1, stale-while-revalidate=60"]
        )
    ));
    let first = get(&url, &[]);
    assert_eq!(x_cache(&first), "MISS");
    std::thread::sleep(Duration::from_millis(1500));
    std::thread::scope(|s| {
        let refresher = s.spawn(|| get(&url, &[]));
        std::thread::sleep(Duration::from_millis(400));
        let started = Instant::now();
        let (stale, rec) = with_record(&stack, || get(&url, &[]));
        let took = started.elapsed();
        assert_eq!(stale.status, 200);
        assert_eq!(x_cache(&stale), "HIT");
        assert_eq!(cache_desc(&stale).as_deref(), Some("stale"));
        assert_eq!(rec["cache"], "STALE", "{rec}");
        assert!(stale.body == first.body);
        assert!(
            took < Duration::from_millis(1000),
            "the stale answer waited {took:?} for the refresh"
        );
        let refreshed = refresher.join().unwrap();
        assert_eq!(x_cache(&refreshed), "MISS");
        assert!(refreshed.body == first.body);
    });
    let fresh = get(&url, &[]);
    assert_eq!(cache_desc(&fresh).as_deref(), Some("hit"));
    assert_eq!(origin_requests(&stack, tag).len(), 2);
}

#[test]
fn stale_if_error_serves_the_old_entry_when_the_refresh_fails() {
    let stack = cache_stack();
    // Every request but the first gets a 503.
    let url = |tag: &str, cc: &str| {
        stack.edge.url(&format!(
            "{}&later={tag}&fail_status=503",
            page(20_000, tag, &[cc])
        ))
    };
    let sie = url("sie", "Cache-Control:max-age=1, stale-if-error=60");
    let without = url("no-sie", "Cache-Control:max-age=1");
    let first = get(&sie, &[]);
    let first_without = get(&without, &[]);
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(x_cache(&first_without), "MISS");
    std::thread::sleep(Duration::from_millis(1500));
    let (stale, rec) = with_record(&stack, || get(&sie, &[]));
    assert_eq!(stale.status, 200, "the origin's 503 reached the client");
    assert_eq!(x_cache(&stale), "HIT");
    assert_eq!(cache_desc(&stale).as_deref(), Some("stale"));
    assert_eq!(rec["cache"], "STALE", "{rec}");
    assert!(stale.body == first.body);
    assert_eq!(
        origin_requests(&stack, "sie").len(),
        2,
        "the refresh was tried"
    );
    // Without the directive the failure is the client's answer.
    let failed = get(&without, &[]);
    assert_eq!(failed.status, 503);
    assert_eq!(origin_requests(&stack, "no-sie").len(), 2);
}

#[test]
fn stale_if_error_also_covers_an_unreachable_origin() {
    let mut stack = cache_stack();
    let sie = stack.edge.url(&page(
        20_000,
        "sie-down",
        &["Cache-Control:max-age=1, stale-if-error=60"],
    ));
    let without = stack
        .edge
        .url(&page(20_000, "no-sie-down", &["Cache-Control:max-age=1"]));
    let first = get(&sie, &[]);
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(x_cache(&get(&without, &[])), "MISS");
    stack.origin.proc.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let stale = get(&sie, &[]);
    assert_eq!(stale.status, 200);
    assert_eq!(cache_desc(&stale).as_deref(), Some("stale"));
    assert!(stale.body == first.body);
    let failed = get(&without, &[]);
    assert!(
        failed.status >= 500,
        "an expired page without stale-if-error answered {}",
        failed.status
    );
}

#[test]
fn a_transient_origin_error_does_not_keep_the_page_out_of_the_cache() {
    let stack = cache_stack();
    let tag = "blip";
    // The first answer is a 503; the origin is healthy from then on.
    let url = stack.edge.url(&format!(
        "{}&once={tag}&fail_status=503",
        page(20_000, tag, &["Cache-Control:max-age=300"])
    ));
    let failed = get(&url, &[]);
    assert_eq!(failed.status, 503);
    assert_eq!(x_cache(&failed), "PASS");
    // An error is not the page's nature: no hit-for-pass marker may keep
    // the recovered page uncached (and every request on the origin) for
    // cache.hit_for_pass_s.
    let recovered = get(&url, &[]);
    assert_eq!(recovered.status, 200);
    assert_eq!(
        x_cache(&recovered),
        "MISS",
        "after a 503 the page is passed ({:?})",
        cache_desc(&recovered)
    );
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
    assert_eq!(origin_requests(&stack, tag).len(), 2);
}

// ---------------------------------------------------------------------
// Expiry, conditionals, HEAD
// ---------------------------------------------------------------------

#[test]
fn after_the_ttl_the_next_request_goes_to_the_origin() {
    let stack = cache_stack();
    let tag = "expiry";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=1"]));
    let first = get(&url, &[]);
    let stored = Instant::now();
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
    assert_eq!(origin_requests(&stack, tag).len(), 1);
    std::thread::sleep(Duration::from_millis(2000).saturating_sub(stored.elapsed()));
    let expired = get(&url, &[]);
    assert_eq!(x_cache(&expired), "MISS");
    assert!(expired.body == first.body);
    assert_eq!(origin_requests(&stack, tag).len(), 2);
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
}

#[test]
fn conditional_requests_are_answered_at_the_edge() {
    let stack = cache_stack();
    let tag = "conditional";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=300"]));
    // The client's own validator for the origin's bytes must not reach the
    // origin on a fill: the entry needs the full 200, not a 304.
    let origin_etag = "\"gen-html-20000-origin.example-identity\"";
    let first = get(&url, &[("if-none-match", origin_etag)]);
    assert_eq!(first.status, 200);
    assert_eq!(x_cache(&first), "MISS");
    assert_doc(
        &first.body,
        &rewritten(20_000, &stack.edge.addr.to_string()),
        "the fill",
    );
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert_eq!(
        etag,
        format!("W/{origin_etag}"),
        "the rewritten body's tag is weak"
    );
    let last_modified = first
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();

    let (not_modified, rec) = with_record(&stack, || get(&url, &[("if-none-match", &etag)]));
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert_eq!(x_cache(&not_modified), "HIT");
    assert_eq!(rec["status"], 304, "{rec}");
    assert_eq!(rec["cache"], "HIT", "{rec}");

    let other = get(&url, &[("if-none-match", "\"something-else\"")]);
    assert_eq!(other.status, 200);
    assert_eq!(x_cache(&other), "HIT");
    assert!(other.body == first.body);

    let since = get(&url, &[("if-modified-since", &last_modified)]);
    assert_eq!(since.status, 304);
    assert!(since.body.is_empty());
    let older = get(
        &url,
        &[("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    );
    assert_eq!(older.status, 200);
    assert!(older.body == first.body);

    assert_eq!(origin_requests(&stack, tag), ["GET"], "no origin contact");
}

#[test]
fn head_of_a_cached_page_is_the_get_head_without_a_body() {
    let stack = cache_stack();
    let tag = "head";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=300"]));
    // HEAD on a cold key goes to the origin and does not fill.
    let cold = request("HEAD", &url, &[], None);
    assert_eq!(cold.status, 200);
    assert_eq!(x_cache(&cold), "PASS");
    assert_eq!(x_cache(&get(&url, &[])), "MISS");
    let hit = get(&url, &[]);
    assert_eq!(x_cache(&hit), "HIT");
    let head = request("HEAD", &url, &[], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(x_cache(&head), "HIT");
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "cache-control",
        "x-cache",
        "x-compress-hint",
    ] {
        assert_eq!(head.header_all(name), hit.header_all(name), "{name}");
    }
    assert_eq!(
        head.header("content-length"),
        Some(hit.body.len().to_string().as_str())
    );
    assert!(head.header("age").is_some());
    assert_eq!(origin_requests(&stack, tag), ["HEAD", "GET"]);
}

// ---------------------------------------------------------------------
// Purge
// ---------------------------------------------------------------------

#[test]
fn purge_by_surrogate_key_needs_the_token_and_makes_the_next_request_a_miss() {
    let stack = cache_stack();
    let tag = "purge-key";
    let url = stack.edge.url(&page(
        20_000,
        tag,
        &[
            "Cache-Control:max-age=300",
            "Surrogate-Key:news-1 front-page",
            "Surrogate-Control:max-age=600",
        ],
    ));
    let first = get(&url, &[]);
    assert_eq!(x_cache(&first), "MISS");
    for name in ["surrogate-key", "surrogate-control"] {
        assert!(first.header(name).is_none(), "{name} reached the client");
    }
    let hit = get(&url, &[]);
    assert_eq!(x_cache(&hit), "HIT");
    assert!(hit.header("surrogate-key").is_none());

    let body = r#"{"surrogate_keys":["news-1"]}"#;
    for token in [Some("wrong-token"), None] {
        let refused = purge(&stack, token, body);
        assert_eq!(refused.status, 401, "{token:?}");
        assert!(!refused.text().contains("wrong-token"));
        assert_eq!(
            x_cache(&get(&url, &[])),
            "HIT",
            "{token:?}: the entry stays"
        );
    }
    assert_eq!(origin_requests(&stack, tag).len(), 1);

    // Only POST, only the documented body.
    let wrong_method = request(
        "GET",
        &stack.edge.url("/_sluice/purge"),
        &[("authorization", &format!("Bearer {PURGE_TOKEN}"))],
        None,
    );
    assert_eq!(wrong_method.status, 405);
    let typo = purge(&stack, Some(PURGE_TOKEN), r#"{"surrogate_key":["news-1"]}"#);
    assert_eq!(typo.status, 400, "{}", typo.text());
    assert_eq!(x_cache(&get(&url, &[])), "HIT", "nothing was purged");

    let purged = purge(&stack, Some(PURGE_TOKEN), body);
    assert_eq!(purged.status, 200, "{}", purged.text());
    let answer: serde_json::Value = serde_json::from_slice(&purged.body).expect("JSON");
    assert_eq!(
        answer,
        serde_json::json!({"purged": ["news-1"], "soft": false})
    );
    let next = get(&url, &[]);
    assert_eq!(x_cache(&next), "MISS");
    assert!(next.body == first.body);
    assert_eq!(origin_requests(&stack, tag).len(), 2);
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
}

#[test]
fn purge_by_path_removes_every_entry_of_that_path_and_only_those() {
    let stack = cache_stack();
    let cc = ["Cache-Control:max-age=300"];
    let a = stack.edge.url(&page(20_000, "path-a", &cc));
    let b = stack.edge.url(&page(20_000, "path-b", &cc));
    let other = stack.edge.url(&page(30_000, "path-other", &cc));
    for url in [&a, &b, &other] {
        assert_eq!(x_cache(&get(url, &[])), "MISS");
        assert_eq!(x_cache(&get(url, &[])), "HIT");
    }
    let purged = purge(
        &stack,
        Some(PURGE_TOKEN),
        &format!(r#"{{"paths":["{}"]}}"#, path_of(&page(20_000, "", &[]))),
    );
    assert_eq!(purged.status, 200, "{}", purged.text());
    assert_eq!(x_cache(&get(&a, &[])), "MISS");
    assert_eq!(x_cache(&get(&b, &[])), "MISS");
    assert_eq!(x_cache(&get(&other, &[])), "HIT", "another path was purged");
    assert_eq!(origin_requests(&stack, "path-a").len(), 2);
    assert_eq!(origin_requests(&stack, "path-other").len(), 1);
}

#[test]
fn soft_purge_makes_the_next_request_refresh_the_entry() {
    let stack = cache_stack();
    let tag = "purge-soft";
    let url = stack.edge.url(&page(
        20_000,
        tag,
        &["Cache-Control:max-age=300", "Surrogate-Key:soft-1"],
    ));
    let first = get(&url, &[]);
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
    let purged = purge(
        &stack,
        Some(PURGE_TOKEN),
        r#"{"surrogate_keys":["soft-1"],"soft":true}"#,
    );
    assert_eq!(purged.status, 200, "{}", purged.text());
    let next = get(&url, &[]);
    assert_eq!(x_cache(&next), "MISS", "a soft-purged entry is refreshed");
    assert!(next.body == first.body);
    assert_eq!(origin_requests(&stack, tag).len(), 2);
    assert_eq!(x_cache(&get(&url, &[])), "HIT");
}

// ---------------------------------------------------------------------
// Other paths and settings
// ---------------------------------------------------------------------

#[test]
fn buffered_path_entries_keep_their_exact_length_and_strong_etag() {
    let stack = cache_stack_with(|c| c.set("publisher.buffered_paths", "/gen/"));
    let tag = "buffered";
    let n = 50_000;
    let url = stack
        .edge
        .url(&page(n, tag, &["Cache-Control:max-age=300"]));
    let first = get(&url, &[]);
    assert_eq!(x_cache(&first), "MISS");
    let timing = first.header_all("server-timing").join(", ");
    assert!(timing.contains("mode;desc=buffered"), "{timing}");
    assert_doc(
        &first.body,
        &rewritten(n, &stack.edge.addr.to_string()),
        "miss",
    );
    let etag = first.header("etag").expect("a strong ETag").to_owned();
    assert!(!etag.starts_with("W/"), "{etag}");
    let length = first.body.len().to_string();
    assert_eq!(first.header("content-length"), Some(length.as_str()));
    let hit = get(&url, &[]);
    assert_eq!(x_cache(&hit), "HIT");
    assert!(hit.body == first.body);
    assert_eq!(hit.header("etag"), Some(etag.as_str()));
    assert_eq!(hit.header("content-length"), Some(length.as_str()));
    let revalidated = get(&url, &[("if-none-match", &etag)]);
    assert_eq!(revalidated.status, 304);
    assert_eq!(origin_requests(&stack, tag), ["GET"]);
}

#[test]
fn the_output_coding_is_part_of_the_key_when_the_guest_encodes() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.output_encoding", "origin"));
    let tag = "coding";
    let n = 50_000;
    // The origin always sends gzip here; the guest keeps it for clients
    // that accept it and decodes it for the others.
    let url = stack.edge.url(&format!(
        "{}&enc=gzip",
        page(n, tag, &["Cache-Control:max-age=300"])
    ));
    let doc = rewritten(n, &stack.edge.addr.to_string());
    let gzip = [("accept-encoding", "gzip")];
    let zipped = get(&url, &gzip);
    assert_eq!(x_cache(&zipped), "MISS");
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    let plain = sluice_e2e::http::decode(Some("gzip"), &zipped.body).expect("gzip");
    assert_doc(&plain, &doc, "gzip miss");
    let identity = get(&url, &[]);
    assert_eq!(
        x_cache(&identity),
        "MISS",
        "an identity client got the gzip entry"
    );
    assert_eq!(identity.header("content-encoding"), None);
    assert_doc(&identity.body, &doc, "identity miss");
    let zipped_hit = get(&url, &gzip);
    assert_eq!(x_cache(&zipped_hit), "HIT");
    assert_eq!(zipped_hit.header("content-encoding"), Some("gzip"));
    assert!(zipped_hit.body == zipped.body);
    let identity_hit = get(&url, &[]);
    assert_eq!(x_cache(&identity_hit), "HIT");
    assert_eq!(identity_hit.header("content-encoding"), None);
    assert!(identity_hit.body == identity.body);
    assert_eq!(origin_requests(&stack, tag).len(), 2);
}

#[test]
fn a_body_over_max_object_bytes_reaches_the_client_whole_but_is_not_kept() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("cache.max_object_bytes", "10000"));
    let n = 20_000;
    let doc = rewritten(n, &stack.edge.addr.to_string());
    let cc = ["Cache-Control:max-age=300"];
    // Known up front (identity with Content-Length): not stored at all.
    let known = stack.edge.url(&page(n, "big-known", &cc));
    for _ in 0..2 {
        let resp = get(&known, &[]);
        assert_eq!(x_cache(&resp), "PASS");
        assert_eq!(cache_desc(&resp).as_deref(), Some("pass-too-large"));
        assert_doc(&resp.body, &doc, "too large, known");
    }
    assert_eq!(origin_requests(&stack, "big-known").len(), 2);
    // Found out while streaming (gzip, no length): the fill streams whole
    // and is then dropped.
    let streamed = stack
        .edge
        .url(&format!("{}&enc=gzip", page(n, "big-streamed", &cc)));
    for _ in 0..2 {
        let resp = get(&streamed, &[]);
        assert_eq!(x_cache(&resp), "MISS");
        assert!(resp.body_error.is_none(), "{:?}", resp.body_error);
        assert_doc(&resp.body, &doc, "too large, streamed");
    }
    assert_eq!(origin_requests(&stack, "big-streamed").len(), 2);
}

#[test]
fn with_the_cache_disabled_every_request_goes_to_the_origin() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("cache.enabled", "false"));
    let tag = "disabled";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=300"]));
    for _ in 0..2 {
        let resp = get(&url, &[]);
        assert_eq!(x_cache(&resp), "PASS");
        assert_eq!(cache_desc(&resp).as_deref(), Some("pass-disabled"));
    }
    assert_eq!(origin_requests(&stack, tag).len(), 2);
}

#[test]
fn without_freshness_information_a_page_is_not_stored() {
    assert_not_stored("no-freshness", &[], &[], "no-freshness");
}

#[test]
fn freshness_comes_from_surrogate_control_then_s_maxage_then_the_default_ttl() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("cache.default_ttl_s", "60"));
    let stored = |tag: &str, headers: &[&str]| {
        let url = stack.edge.url(&page(20_000, tag, headers));
        let first = get(&url, &[]);
        assert_eq!(x_cache(&first), "MISS", "{tag}");
        let again = get(&url, &[]);
        assert_eq!(x_cache(&again), "HIT", "{tag}");
        assert_eq!(origin_requests(&stack, tag).len(), 1, "{tag}");
        again
    };
    // No freshness information: cache.default_ttl_s.
    stored("default", &[]);
    // Surrogate-Control is the edge's; Cache-Control is left to browsers.
    let edge_only = stored(
        "surrogate",
        &["Cache-Control:no-cache", "Surrogate-Control:max-age=300"],
    );
    // (`private` is this new visitor's: its ID is issued on the hit.)
    assert_eq!(edge_only.header("cache-control"), Some("private, no-cache"));
    assert!(edge_only.header("surrogate-control").is_none());
    // s-maxage over max-age.
    stored("s-maxage", &["Cache-Control:s-maxage=300, max-age=0"]);
    // An explicit zero lifetime is not overridden by the default.
    let url = stack
        .edge
        .url(&page(20_000, "zero", &["Cache-Control:max-age=0"]));
    let zero = get(&url, &[]);
    assert_eq!(cache_desc(&zero).as_deref(), Some("pass-expired"));
}

#[test]
fn a_range_request_reads_the_entry_but_never_fills_it() {
    let stack = cache_stack();
    let tag = "range";
    let url = stack
        .edge
        .url(&page(20_000, tag, &["Cache-Control:max-age=300"]));
    let doc = rewritten(20_000, &stack.edge.addr.to_string());
    let range = [("range", "bytes=0-99")];
    let cold = get(&url, &range);
    assert_eq!(cold.status, 200, "a rewritten page is sent whole");
    assert_eq!(x_cache(&cold), "PASS");
    assert_doc(&cold.body, &doc, "cold range");
    assert_eq!(x_cache(&get(&url, &[])), "MISS", "the range request filled");
    let warm = get(&url, &range);
    assert_eq!(warm.status, 200);
    assert_eq!(x_cache(&warm), "HIT");
    assert_doc(&warm.body, &doc, "warm range");
    assert_eq!(origin_requests(&stack, tag).len(), 2);
}
