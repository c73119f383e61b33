//! Upstream plans: feed the allow-listed backend's status and body to an
//! `UpstreamSession` and perform each output: head, bytes (flushed), then
//! go on, finish, abort or reject.

use std::io::{ErrorKind, Read};

use serde_json::{json, Value};

use super::{prepare, Planned};
use crate::access::AccessRecord;
use crate::edge_error::{EdgeError, EdgeFault};
use crate::pump::{pump, Flow, Pumped};
use crate::sink::Downstream;
use crate::stream::{DownstreamStep, Output, UpstreamFailure, UpstreamSession};

/// How the request ends once a session output is terminal.
type Ended = Result<(), EdgeFault>;

/// Feeds the upstream status and body to the session until it ends.
pub fn feed_upstream<C: Planned, R: Read>(
    session: &mut UpstreamSession,
    status: u16,
    upstream: &mut R,
    down: &mut Downstream<C>,
    record: &mut AccessRecord,
) -> Ended {
    if let Some(ended) = obey(session.response_status(status), down) {
        return ended;
    }
    let (mut bytes_in, mut ended) = (0u64, None);
    let pumped = pump(upstream, |chunk| {
        bytes_in += chunk.len() as u64;
        ended = obey(session.feed(chunk), down);
        Ok::<_, ()>(if ended.is_some() {
            Flow::Stop
        } else {
            Flow::More
        })
    });
    record.bytes_in = bytes_in;
    if let Some(ended) = ended {
        return ended;
    }
    let out = match pumped {
        Err(Pumped::Read(e)) if e.kind() == ErrorKind::TimedOut => {
            session.fail(UpstreamFailure::Timeout)
        }
        Err(Pumped::Read(e)) => session.fail(UpstreamFailure::Read(e.to_string())),
        Ok(()) | Err(Pumped::Handler(())) => session.finish(),
    };
    obey(out, down).unwrap_or_else(|| finish(down))
}

/// The upstream could not be reached or sent no head in time.
pub fn fail_upstream<C: Planned>(
    session: &mut UpstreamSession,
    failure: UpstreamFailure,
    down: &mut Downstream<C>,
) -> Ended {
    obey(session.fail(failure), down).unwrap_or_else(|| finish(down))
}

/// The access line's `plan` for an upstream plan.
pub fn upstream_detail(
    backend: &str,
    session: &UpstreamSession,
    upstream_ms: u64,
    ended: &Ended,
) -> Value {
    let stats = session.stats();
    let mut detail = json!({
        "backend": backend,
        "records": stats.records,
        "tokens": stats.tokens,
        "upstream_ms": upstream_ms,
    });
    if let Err(fault) = ended {
        if let EdgeError::Plan(class) = &*fault.error {
            detail["class"] = json!(class);
        }
    }
    detail
}

/// Ends the stream cleanly (a session that never said how to end).
fn finish<C: Planned>(down: &mut Downstream<C>) -> Ended {
    down.finish().map_err(EdgeFault::client_gone)
}

/// Performs one session output: `None` to go on, or how the request
/// ends. A failed write means the client left: the stream stops at once.
fn obey<C: Planned>(out: Output, down: &mut Downstream<C>) -> Option<Ended> {
    if let Some(head) = &out.head {
        prepare(down, head);
    }
    if let Err(e) = down.write(&out.bytes) {
        down.abort();
        return Some(Err(EdgeFault::client_gone(e)));
    }
    match out.next {
        DownstreamStep::Continue => None,
        DownstreamStep::Finish => Some(finish(down)),
        DownstreamStep::Abort => {
            down.abort();
            let why = "the upstream failed after the first byte";
            Some(Err(EdgeFault::plan("upstream_error", why)))
        }
        DownstreamStep::Reject(r) => Some(Err(EdgeFault::plan(&r.class, r.message))),
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::super::fake::{install, Event, Fake, Reads};
    use super::*;
    use crate::sink::SinkStats;
    use crate::stream::plan::{PlanPolicy, ValidatedPlan};

    const PLAN: &str = r#"{
      "backend": "ollama", "method": "POST", "path": "/api/generate",
      "codec": "ndjson",
      "mapper": {"kind": "text_field", "pointers": ["/response"]},
      "done": {"kind": "pointer_equals", "pointer": "/done", "value": true},
      "output": "OUTPUT"
    }"#;

    fn feed(output: &str, status: u16, body: Reads, fake: &Fake) -> (Ended, Value) {
        install(fake);
        let json = PLAN.replace("OUTPUT", output);
        let plan = ValidatedPlan::parse(json.as_bytes(), &PlanPolicy::new(["ollama"])).unwrap();
        let mut session = plan.session();
        let mut down: Downstream<Fake> = Downstream::new(Rc::new(SinkStats::default()));
        let mut record = AccessRecord::for_request("GET", "/");
        let mut body = body;
        let ended = feed_upstream(&mut session, status, &mut body, &mut down, &mut record);
        let detail = upstream_detail("ollama", &session, 3, &ended);
        (ended, detail)
    }

    const TOKENS: [&[u8]; 3] = [
        b"{\"response\":\"He\"}\n{\"resp",
        b"onse\":\"llo\"}\n",
        b"{\"response\":\"\",\"done\":true}\n",
    ];

    #[test]
    fn tokens_are_flushed_as_records_complete_and_the_done_record_ends_it() {
        let fake = Fake::default();
        let (ended, detail) = feed("text", 200, Reads::of(&TOKENS), &fake);
        assert_eq!(ended, Ok(()));
        assert_eq!(
            fake.events(),
            vec![
                Event::Open(200),
                Event::Flushed(b"He".to_vec()),
                Event::Flushed(b"Hello".to_vec()),
                Event::Finished(b"Hello".to_vec()),
            ]
        );
        assert_eq!(detail["tokens"], 2);
        assert_eq!(detail.get("class"), None);
    }

    #[test]
    fn a_bad_status_is_rejected_before_any_byte() {
        let fake = Fake::default();
        let (ended, detail) = feed("sse", 503, Reads::of(&TOKENS), &fake);
        assert_eq!(
            ended.map_err(|f| *f.error),
            Err(EdgeError::Plan("upstream_status".into()))
        );
        assert_eq!(detail["class"], "upstream_status");
        assert!(fake.events().is_empty());
    }

    #[test]
    fn a_break_after_the_first_token_aborts_text_and_ends_sse_with_an_error_event() {
        let fake = Fake::default();
        let (ended, _) = feed("text", 200, Reads::of(&TOKENS[..1]).then_reset(), &fake);
        assert_eq!(
            ended.map_err(|f| *f.error),
            Err(EdgeError::Plan("upstream_error".into()))
        );
        assert_eq!(fake.events().last(), Some(&Event::Aborted(b"He".to_vec())));

        let fake = Fake::default();
        let (ended, _) = feed(
            "sse",
            200,
            Reads::of(&TOKENS[..1]).then_fail(ErrorKind::TimedOut),
            &fake,
        );
        assert_eq!(ended, Ok(()), "the in-band error event ends the response");
        let body = String::from_utf8(fake.body()).unwrap();
        assert!(body.starts_with("data: He\n\n"), "{body}");
        assert!(
            body.ends_with("\n\n")
                && body.contains("event: error\ndata: {\"class\":\"upstream_timeout\""),
            "{body}"
        );
        assert!(matches!(fake.events().last(), Some(Event::Finished(_))));
    }

    #[test]
    fn a_client_that_leaves_stops_the_feed() {
        let fake = Fake::failing_after(3);
        let (ended, _) = feed("text", 200, Reads::of(&TOKENS), &fake);
        assert_eq!(ended.map_err(|f| *f.error), Err(EdgeError::ClientGone));
        assert_eq!(fake.events().last(), Some(&Event::Aborted(b"He".to_vec())));
    }
}
