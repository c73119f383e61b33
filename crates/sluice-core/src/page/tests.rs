//! The rewrite driver natively: streamed and buffered bodies, the
//! buffered spill, hash completion and the CPU budget's splice and copy.

use std::cell::Cell;

use super::*;
use crate::access::AccessRecord;
use crate::http::ClientView;
use crate::settings::Settings;
use crate::stream::drive::fake::{Event, Fake, Head, Reads};
use crate::{ContentEncoding, ContentKind, RewriteRules};

thread_local! {
    /// The vCPU each `vcpu_ms` call reads, in order; the last repeats.
    static VCPU: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

struct Test;

impl Platform for Test {
    type Head = Head;
    fn values(head: &Head, name: &str) -> Vec<String> {
        let named = head.headers.iter().filter(|(n, _)| n == name);
        named.map(|(_, v)| v.clone()).collect()
    }
    fn set_all(head: &mut Head, name: &str, values: &[String]) {
        head.headers.retain(|(n, _)| n != name);
        head.headers
            .extend(values.iter().map(|v| (name.to_owned(), v.clone())));
    }
    fn vcpu_ms() -> u64 {
        // The first reading is `first`, every later one `then`.
        VCPU.with(|c| {
            let (first, then) = c.get();
            c.set((then, then));
            first
        })
    }
}

const PAGE: &[u8] = b"<a href=\"https://origin.example/a\">a</a><p>text</p><img src=\"https://origin.example/b.png\">";
const REWRITTEN: &[u8] =
    b"<a href=\"https://edge.example/a\">a</a><p>text</p><img src=\"https://edge.example/b.png\">";

fn how(mode: Mode) -> Rewrite {
    let rules = RewriteRules::new(["origin.example"], "https", "edge.example").unwrap();
    let id = ContentEncoding::Identity;
    Rewrite {
        config: PipelineConfig::new(id, id, ContentKind::Html, rules),
        mode,
        hashed: None,
        origin_length: None,
    }
}

fn run(
    how: Rewrite,
    reads: Reads,
    fake: &Fake,
    settings: &Settings,
) -> (Result<(), EdgeFault>, AccessRecord) {
    let view = ClientView::from_connection(true, Some("edge.example"), None, None, false);
    let mut cx = Cx::new(
        Instant::now(),
        settings,
        view,
        AccessRecord::for_request("GET", "/"),
    );
    let mut head = fake.head(200);
    let timing = format!("edge;dur=0.5, mode;desc={}", how.mode.as_str());
    head.headers.push(("server-timing".into(), timing));
    let result = rewrite::<Test, _, _>(head, reads, how, fake.clone(), &mut cx);
    (result, cx.record)
}

fn header(fake: &Fake, name: &str) -> Option<String> {
    Test::values(&fake.heads()[0], name).pop()
}

#[test]
fn a_streamed_page_is_rewritten_the_same_whatever_its_chunks() {
    let settings = Settings::defaults();
    for at in [1, 7, 30, PAGE.len() - 1] {
        let fake = Fake::default();
        let (head, tail) = PAGE.split_at(at);
        let (result, record) = run(
            how(Mode::Stream),
            Reads::of(&[head, tail]),
            &fake,
            &settings,
        );
        assert_eq!(result, Ok(()));
        assert_eq!(fake.body(), REWRITTEN, "split at {at}");
        assert!(matches!(fake.events().last(), Some(Event::Finished(_))));
        assert_eq!(
            (record.mode, record.bytes_in),
            ("stream", PAGE.len() as u64)
        );
    }
}

#[test]
fn a_buffered_page_goes_whole_with_its_exact_length_and_a_strong_tag() {
    let fake = Fake::default();
    let (result, record) = run(
        how(Mode::Buffered),
        Reads::of(&[PAGE]),
        &fake,
        &Settings::defaults(),
    );
    assert_eq!(result, Ok(()));
    assert_eq!(fake.events(), vec![Event::Whole(200, REWRITTEN.to_vec())]);
    assert_eq!(
        header(&fake, "content-length"),
        Some(REWRITTEN.len().to_string())
    );
    assert!(header(&fake, "etag").is_some_and(|t| t.starts_with('"') && t.len() > 10));
    assert_eq!(record.mode, "buffered");
}

#[test]
fn a_buffered_page_over_its_cap_streams_and_says_so() {
    let mut settings = Settings::defaults();
    settings.buffer_max_bytes = 16;
    let fake = Fake::default();
    let (result, record) = run(how(Mode::Buffered), Reads::of(&[PAGE]), &fake, &settings);
    assert_eq!(result, Ok(()));
    assert_eq!(fake.body(), REWRITTEN);
    assert_eq!(header(&fake, "content-length"), None);
    let timing = header(&fake, "server-timing").unwrap();
    assert!(timing.ends_with("mode;desc=stream"), "{timing}");
    assert_eq!(record.mode, "stream");
}

/// A 10 ms budget and a clock that reads 0 ms before the first chunk and
/// 1,000 ms after it: the rewrite stops before the second chunk.
fn over_budget_after_the_first_chunk() -> Settings {
    let mut settings = Settings::defaults();
    settings.cpu_budget_ms = 10;
    VCPU.with(|c| c.set((0, 1_000)));
    settings
}

/// The first 45 origin bytes rewritten, the rest as the origin sent them.
fn rewritten_to_45_then_as_sent() -> Vec<u8> {
    let mut expected = b"<a href=\"https://edge.example/a\">a</a><p>te".to_vec();
    expected.extend_from_slice(&PAGE[45..]);
    expected
}

#[test]
fn past_the_budget_the_rest_is_appended_unrewritten_by_the_host() {
    let settings = over_budget_after_the_first_chunk();
    let fake = Fake::appending();
    let (first, rest) = PAGE.split_at(45);
    let (result, record) = run(
        how(Mode::Stream),
        Reads::of(&[first, rest]),
        &fake,
        &settings,
    );
    assert_eq!(result, Ok(()));
    let expected = rewritten_to_45_then_as_sent();
    assert_eq!(fake.body(), expected);
    assert!(fake.events().contains(&Event::Appended(expected.len())));
    let stop = record.cpu_budget.unwrap();
    assert_eq!(
        (stop.rest, stop.at_byte, stop.vcpu_ms),
        ("splice", 45, 1_000)
    );
}

#[test]
fn a_body_that_takes_no_append_gets_the_rest_copied_and_counted() {
    let settings = over_budget_after_the_first_chunk();
    let fake = Fake::default();
    let (first, rest) = PAGE.split_at(45);
    let (mid, last) = rest.split_at(10);
    let (result, record) = run(
        how(Mode::Stream),
        Reads::of(&[first, mid, last]),
        &fake,
        &settings,
    );
    assert_eq!(result, Ok(()));
    let expected = rewritten_to_45_then_as_sent();
    assert_eq!(fake.body(), expected);
    assert_eq!(record.cpu_budget.map(|s| s.rest), Some("copy"));
    assert_eq!(
        record.bytes_in,
        PAGE.len() as u64,
        "the copied rest is counted"
    );
}

#[test]
fn an_origin_that_breaks_off_aborts_a_committed_page() {
    let fake = Fake::default();
    let reads = Reads::of(&[PAGE]).then_reset();
    let (result, _) = run(how(Mode::Stream), reads, &fake, &Settings::defaults());
    assert_eq!(result.map_err(|f| *f.error), Err(EdgeError::OriginRead));
    assert!(matches!(fake.events().last(), Some(Event::Aborted(_))));
}
