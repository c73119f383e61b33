//! The sink's state machine, natively: commit on the first byte, buffer
//! and spill at the cap, finish and abort before and after commit.

use super::*;
use std::cell::RefCell;

/// What the fake platform saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Open(Head),
    Whole(Head, Vec<u8>),
    Finished(Vec<u8>),
    Aborted(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

fn head(status: u16) -> Head {
    Head {
        status,
        headers: Vec::new(),
    }
}

/// A body that records its bytes and can be told to fail.
struct Body {
    bytes: Vec<u8>,
    fail_after: Option<usize>,
}

impl Write for Body {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self
            .fail_after
            .is_some_and(|n| self.bytes.len() + buf.len() > n)
        {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client gone"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Default)]
struct Fake {
    events: Rc<RefCell<Vec<Event>>>,
    fail_after: Option<usize>,
}

impl Commit for Fake {
    type Head = Head;
    type Body = Body;
    fn status(head: &Head) -> u16 {
        head.status
    }
    fn open(&mut self, head: Head) -> io::Result<Body> {
        self.events.borrow_mut().push(Event::Open(head));
        Ok(Body {
            bytes: Vec::new(),
            fail_after: self.fail_after,
        })
    }
    fn send_whole(&mut self, head: Head, body: Vec<u8>) -> io::Result<()> {
        self.events.borrow_mut().push(Event::Whole(head, body));
        Ok(())
    }
    fn finish(&mut self, body: Body) -> io::Result<()> {
        self.events.borrow_mut().push(Event::Finished(body.bytes));
        Ok(())
    }
    fn abort(&mut self, body: Body) {
        self.events.borrow_mut().push(Event::Aborted(body.bytes));
    }
}

fn events(f: &Fake) -> Vec<Event> {
    f.events.borrow().clone()
}

fn buffered(fake: &Fake, cap: usize, stats: &Rc<SinkStats>) -> ClientSink<Fake> {
    ClientSink::buffered(
        fake.clone(),
        head(200),
        cap,
        Rc::clone(stats),
        Box::new(|h: &mut Head, body: &[u8]| {
            h.headers
                .push(("content-length".into(), body.len().to_string()));
        }),
        Box::new(|h: &mut Head| h.headers.push(("mode".into(), "stream".into()))),
    )
}

#[test]
fn streaming_commits_on_the_first_non_empty_write_only() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(203), Rc::clone(&stats));
    assert_eq!(sink.write(b"").unwrap(), 0);
    sink.flush().unwrap();
    assert!(events(&fake).is_empty() && !stats.committed());
    sink.write_all(b"abc").unwrap();
    assert!(stats.committed() && sink.committed());
    assert_eq!(stats.status(), Some(203));
    sink.write_all(b"def").unwrap();
    sink.finish().unwrap();
    assert_eq!(
        events(&fake),
        [Event::Open(head(203)), Event::Finished(b"abcdef".to_vec())]
    );
    assert_eq!(stats.bytes_out(), 6);
}

#[test]
fn a_stream_finished_before_any_byte_sends_an_empty_whole_body() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let sink = ClientSink::streaming(fake.clone(), head(204), Rc::clone(&stats));
    sink.finish().unwrap();
    assert_eq!(events(&fake), [Event::Whole(head(204), Vec::new())]);
    assert_eq!(stats.status(), Some(204));
}

#[test]
fn dropped_before_commit_sends_nothing_so_the_caller_can_answer_a_status() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    drop(sink);
    assert!(events(&fake).is_empty());
    assert!(!stats.committed());
    let sink = buffered(&fake, 100, &stats);
    let mut sink = sink;
    sink.write_all(b"held").unwrap();
    sink.abort();
    assert!(events(&fake).is_empty(), "a buffered body never leaks");
}

#[test]
fn dropped_after_commit_aborts_never_finishes() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.write_all(b"partial").unwrap();
    drop(sink);
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Aborted(b"partial".to_vec())]
    );
    let fake = Fake::default();
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.write_all(b"x").unwrap();
    sink.abort();
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Aborted(b"x".to_vec())]
    );
}

#[test]
fn buffered_body_under_the_cap_is_finalised_and_sent_whole() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = buffered(&fake, 10, &stats);
    sink.write_all(b"01234").unwrap();
    sink.write_all(b"56789").unwrap();
    assert!(events(&fake).is_empty() && !stats.committed());
    sink.finish().unwrap();
    let mut h = head(200);
    h.headers.push(("content-length".into(), "10".into()));
    assert_eq!(events(&fake), [Event::Whole(h, b"0123456789".to_vec())]);
    assert!(!stats.spilled());
    assert_eq!(stats.bytes_out(), 10);
}

#[test]
fn buffered_body_over_the_cap_spills_into_a_stream_in_order() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = buffered(&fake, 10, &stats);
    sink.write_all(b"0123456789").unwrap();
    assert!(events(&fake).is_empty(), "exactly at the cap still buffers");
    sink.write_all(b"a").unwrap();
    let mut spilled = head(200);
    spilled.headers.push(("mode".into(), "stream".into()));
    assert_eq!(events(&fake), [Event::Open(spilled.clone())]);
    assert!(stats.spilled() && stats.committed());
    sink.write_all(b"bc").unwrap();
    sink.finish().unwrap();
    assert_eq!(
        events(&fake),
        [
            Event::Open(spilled),
            Event::Finished(b"0123456789abc".to_vec())
        ]
    );
    assert_eq!(stats.bytes_out(), 13);
}

#[test]
fn a_spilled_body_dropped_mid_stream_is_aborted() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = buffered(&fake, 4, &stats);
    sink.write_all(b"01234").unwrap();
    drop(sink);
    assert!(matches!(events(&fake).last(), Some(Event::Aborted(b)) if b == b"01234"));
}

#[test]
fn a_client_write_error_aborts_and_closes_the_sink() {
    let fake = Fake {
        fail_after: Some(4),
        ..Fake::default()
    };
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.write_all(b"abc").unwrap();
    let err = sink.write_all(b"de").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert!(sink.write_all(b"f").is_err(), "closed after an error");
    assert!(sink.finish().is_err());
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Aborted(b"abc".to_vec())]
    );
    assert_eq!(stats.bytes_out(), 3);
}

#[test]
fn a_write_error_while_committing_aborts_the_opened_body() {
    let fake = Fake {
        fail_after: Some(2),
        ..Fake::default()
    };
    let stats = Rc::new(SinkStats::default());
    let mut sink = buffered(&fake, 3, &stats);
    sink.write_all(b"abc").unwrap();
    assert!(sink.write_all(b"d").is_err());
    assert!(matches!(events(&fake).last(), Some(Event::Aborted(_))));
    assert_eq!(stats.bytes_out(), 0);
}

#[test]
fn downstream_commits_the_first_head_on_the_first_byte_and_flushes() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut down = Downstream::new(Rc::clone(&stats));
    assert!(down.write(b"x").is_err(), "no head yet");
    assert!(!down.is_prepared());
    down.prepare(fake.clone(), head(200));
    down.prepare(fake.clone(), head(500));
    down.write(b"").unwrap();
    assert!(events(&fake).is_empty());
    down.write(b"ev").unwrap();
    down.finish().unwrap();
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Finished(b"ev".to_vec())]
    );
    assert!(down.finish().is_err(), "finished once");
}

#[test]
fn downstream_abort_after_commit_breaks_the_body() {
    let fake = Fake::default();
    let mut down = Downstream::new(Rc::new(SinkStats::default()));
    down.prepare(fake.clone(), head(200));
    down.write(b"a").unwrap();
    down.abort();
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Aborted(b"a".to_vec())]
    );
}

#[test]
fn a_buffered_body_past_its_deadline_spills_at_the_next_write_or_flush() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let soon = Instant::now() + std::time::Duration::from_millis(30);
    let mut sink = buffered(&fake, 1 << 20, &stats).spill_at(soon);
    sink.write_all(b"held").unwrap();
    sink.flush().unwrap();
    assert!(events(&fake).is_empty(), "before the deadline it buffers");
    std::thread::sleep(std::time::Duration::from_millis(40));
    sink.flush().unwrap();
    let mut spilled = head(200);
    spilled.headers.push(("mode".into(), "stream".into()));
    assert_eq!(events(&fake), [Event::Open(spilled)]);
    assert!(stats.spilled() && stats.committed());
    sink.write_all(b"-more").unwrap();
    sink.finish().unwrap();
    assert_eq!(
        events(&fake).last(),
        Some(&Event::Finished(b"held-more".to_vec()))
    );
}

#[test]
fn a_buffered_body_that_ends_before_its_deadline_is_finalised() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let later = Instant::now() + std::time::Duration::from_secs(3600);
    let mut sink = buffered(&fake, 1 << 20, &stats).spill_at(later);
    sink.write_all(b"whole").unwrap();
    sink.flush().unwrap();
    sink.finish().unwrap();
    assert!(matches!(&events(&fake)[..], [Event::Whole(_, b)] if b == b"whole"));
    assert!(!stats.spilled());
}

#[test]
fn a_deadline_already_past_spills_on_the_first_write() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = buffered(&fake, 1 << 20, &stats).spill_at(Instant::now());
    sink.write_all(b"x").unwrap();
    assert!(stats.spilled());
    assert!(matches!(&events(&fake)[..], [Event::Open(_)]));
}

#[test]
fn a_body_finished_outside_the_sink_is_sent_whole_with_its_edited_head() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.head_mut()
        .unwrap()
        .headers
        .push(("x".into(), "1".into()));
    sink.finish_whole(b"doc".to_vec()).unwrap();
    let mut h = head(200);
    h.headers.push(("x".into(), "1".into()));
    assert_eq!(events(&fake), [Event::Whole(h, b"doc".to_vec())]);
    assert_eq!(stats.bytes_out(), 3);
}

#[test]
fn after_commit_there_is_no_head_to_edit_and_the_body_streams_on() {
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.write_all(b"a").unwrap();
    assert!(sink.head_mut().is_none());
    sink.finish_whole(b"b".to_vec()).unwrap();
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Finished(b"ab".to_vec())]
    );
}

#[test]
fn committed_body_commits_a_stream_but_never_a_waiting_buffer() {
    // A stream that has sent nothing commits its head at once, so the
    // caller can append the rest of the body after it.
    let fake = Fake::default();
    let stats = Rc::new(SinkStats::default());
    let mut sink = ClientSink::streaming(fake.clone(), head(200), Rc::clone(&stats));
    sink.committed_body()
        .unwrap()
        .unwrap()
        .write_all(b"spliced")
        .unwrap();
    assert!(stats.committed());
    sink.finish().unwrap();
    assert_eq!(
        events(&fake),
        [Event::Open(head(200)), Event::Finished(b"spliced".to_vec())]
    );

    // A buffered body waiting for its end is never committed early: its
    // finaliser needs every byte.
    let fake = Fake::default();
    let mut sink = buffered(&fake, 10, &stats);
    sink.write_all(b"abc").unwrap();
    assert!(sink.committed_body().unwrap().is_none());
    assert!(events(&fake).is_empty());
    // Once it has spilled into a stream, its body is there to splice onto.
    sink.write_all(b"0123456789").unwrap();
    sink.committed_body()
        .unwrap()
        .unwrap()
        .write_all(b"!")
        .unwrap();
    sink.finish().unwrap();
    let mut spilled = head(200);
    spilled.headers.push(("mode".into(), "stream".into()));
    assert_eq!(
        events(&fake),
        [
            Event::Open(spilled),
            Event::Finished(b"abc0123456789!".to_vec())
        ]
    );
}
