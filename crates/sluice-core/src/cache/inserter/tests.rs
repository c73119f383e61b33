//! The fill's committer natively, over a recording fake cache: what is
//! inserted, what the client is sent, and what is purged when a fill
//! breaks, overflows or cannot be read back.

use std::cell::RefCell;
use std::time::Duration;

use super::*;
use crate::cache::fill::Admission;
use crate::cache::vary::VaryRule;
use crate::sink::ClientSink;
use crate::sink::SinkStats;

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static REFUSE: RefCell<Option<bool>> = const { RefCell::new(None) };
}

pub(crate) fn log(line: String) {
    LOG.with(|l| l.borrow_mut().push(line));
}

pub(crate) fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// A head: status and headers.
#[derive(Debug, Clone)]
pub(crate) struct Head(pub(crate) u16, pub(crate) Vec<(String, Vec<u8>)>);

/// A body that logs what it is written as it is finished or abandoned.
pub(crate) struct Body(&'static str, Vec<u8>);

impl Write for Body {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) struct Fake;

impl CacheWrite for Fake {
    type Txn = ();
    type Head = Head;
    type Body = Body;
    fn status(head: &Head) -> u16 {
        head.0
    }
    fn headers(head: &Head) -> Vec<(&str, &[u8])> {
        head.1
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect()
    }
    fn send_direct(head: Head) -> Body {
        log(format!(
            "direct {} {:?}",
            head.0,
            head.1.iter().map(|(n, _)| n).collect::<Vec<_>>()
        ));
        Body("client", Vec::new())
    }
    fn insert(_: (), insert: &Insert<'_>, head: Head) -> Result<Body, InsertFailed<Head>> {
        match REFUSE.with(|r| *r.borrow()) {
            Some(true) => return Err(InsertFailed::Refused(head, io::Error::other("refused"))),
            Some(false) => return Err(InsertFailed::ReadBack(io::Error::other("unreadable"))),
            None => {}
        }
        let names: Vec<&String> = head.1.iter().map(|(n, _)| n).collect();
        log(format!(
            "insert ttl={:?} keys={} len={:?} client={names:?}",
            insert.store.ttl,
            insert.keys.len(),
            insert.known_length
        ));
        Ok(Body("entry", Vec::new()))
    }
    fn insert_marker(_: (), ttl: Duration, _: Vec<u8>) -> io::Result<()> {
        log(format!("marker {ttl:?}"));
        Ok(())
    }
    fn cancel(_: ()) {
        log("cancel".into());
    }
    fn finish(body: Body) -> io::Result<()> {
        log(format!(
            "finish {} {}",
            body.0,
            String::from_utf8_lossy(&body.1)
        ));
        Ok(())
    }
    fn abandon(body: Body) {
        log(format!(
            "abandon {} {}",
            body.0,
            String::from_utf8_lossy(&body.1)
        ));
    }
    fn purge(key: &str) -> io::Result<()> {
        log(format!("purge {}", &key[..key.len().min(11)]));
        Ok(())
    }
}

fn store() -> Store {
    Store {
        ttl: Duration::from_secs(60),
        initial_age: Duration::ZERO,
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::ZERO,
        vary: VaryRule::default(),
        source: crate::cache::policy::FreshnessSource::Default,
    }
}

fn inserter(max: u64) -> Inserter<Fake> {
    let Admission::Fill(budget) = FillBudget::admit(max, None, true) else {
        panic!("admitted");
    };
    REFUSE.with(|r| *r.borrow_mut() = None);
    let fill: Fill<Fake, ()> = Fill::new((), None);
    let inserter = fill.store(store(), "/p", &["origin-key"], budget, Some([7; 16]));
    inserter.decorating(Box::new(|h: &mut Head| {
        h.1.push(("x-cache".into(), b"MISS".to_vec()))
    }))
}

fn head() -> Head {
    Head(200, vec![("content-type".into(), b"text/html".to_vec())])
}

fn sink(inserter: Inserter<Fake>) -> ClientSink<Inserter<Fake>> {
    ClientSink::streaming(inserter, head(), std::rc::Rc::new(SinkStats::default()))
}

#[test]
fn the_first_byte_inserts_and_the_client_head_alone_is_decorated() {
    take_log();
    let mut sink = sink(inserter(1_000));
    sink.write_all(b"hello").unwrap();
    sink.finish().unwrap();
    assert_eq!(
        take_log(),
        [
            "insert ttl=60s keys=3 len=None client=[\"content-type\", \"x-cache\"]",
            "finish entry hello",
        ]
    );
}

#[test]
fn a_broken_fill_is_abandoned_and_its_fill_key_purged() {
    take_log();
    let mut sink = sink(inserter(1_000));
    sink.write_all(b"half").unwrap();
    sink.abort();
    let log = take_log();
    assert_eq!(log[1..], ["abandon entry half", "purge sluice-fill"]);
}

#[test]
fn an_object_over_its_budget_is_completed_for_its_readers_then_purged() {
    take_log();
    let mut sink = sink(inserter(4));
    sink.write_all(b"too large").unwrap();
    sink.finish().unwrap();
    assert_eq!(
        take_log()[1..],
        ["finish entry too large", "purge sluice-fill"]
    );
}

#[test]
fn a_whole_body_is_inserted_with_its_known_length() {
    take_log();
    let mut inserter = inserter(1_000);
    inserter.send_whole(head(), b"whole".to_vec()).unwrap();
    assert_eq!(
        take_log()[0],
        "insert ttl=60s keys=3 len=Some(5) client=[\"content-type\", \"x-cache\"]"
    );
}

#[test]
fn a_refused_insert_streams_uncached_and_an_unreadable_one_fails_and_purges() {
    take_log();
    let mut refused = sink(inserter(1_000));
    REFUSE.with(|r| *r.borrow_mut() = Some(true));
    refused.write_all(b"x").unwrap();
    refused.finish().unwrap();
    assert_eq!(
        take_log(),
        [
            "direct 200 [\"content-type\", \"x-cache\"]",
            "finish client x"
        ]
    );

    let mut unreadable = sink(inserter(1_000));
    REFUSE.with(|r| *r.borrow_mut() = Some(false));
    assert!(unreadable.write_all(b"x").is_err());
    assert_eq!(take_log(), ["purge sluice-fill"]);
}

#[test]
fn an_unstorable_head_cancels_and_a_pass_leaves_a_marker_only_when_it_may() {
    take_log();
    let mut sink = ClientSink::streaming(
        inserter(1_000),
        Head(999, vec![]),
        std::rc::Rc::new(SinkStats::default()),
    );
    sink.write_all(b"x").unwrap();
    assert_eq!(
        take_log()[..2],
        ["cancel".to_owned(), "direct 999 [\"x-cache\"]".to_owned()]
    );

    let fill: Fill<Fake, ()> = Fill::new((), None);
    fill.pass(NotStored::Private, Duration::from_secs(30));
    let fill: Fill<Fake, ()> = Fill::new((), None);
    fill.pass(NotStored::Private, Duration::ZERO);
    assert_eq!(take_log(), ["marker 30s", "cancel"]);
}
