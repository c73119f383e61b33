//! Hosted streams: the origin streams SSE or NDJSON itself and every read
//! is written and flushed on its own: no coalescing, no re-framing, no
//! rewrite.

use std::io::Read;

use serde_json::json;

use crate::access::AccessRecord;
use crate::edge_error::{EdgeError, EdgeFault};
use crate::pump::{pump, Flow, Pumped};
use crate::sink::{Commit, Downstream};

/// Relays `body` to `down` (whose head is prepared) until either side
/// ends. The origin body is dropped before the client side is closed: on a
/// client disconnect that is what tells the origin to stop.
pub fn relay_hosted<C: Commit, R: Read>(
    mut body: R,
    down: &mut Downstream<C>,
    record: &mut AccessRecord,
) -> Result<(), EdgeFault> {
    let (mut bytes_in, mut chunks) = (0u64, 0u64);
    let result = pump(&mut body, |chunk| {
        bytes_in += chunk.len() as u64;
        chunks += 1;
        down.write(chunk).map(|()| Flow::More)
    });
    drop(body);
    record.bytes_in = bytes_in;
    let (outcome, result) = match result {
        Ok(()) => match down.finish() {
            Ok(()) => ("completed", Ok(())),
            Err(e) => ("client_disconnect", Err(EdgeFault::client_gone(e))),
        },
        Err(Pumped::Handler(e)) => ("client_disconnect", Err(EdgeFault::client_gone(e))),
        Err(Pumped::Read(e)) => (
            "origin_error",
            Err(EdgeFault::new(EdgeError::OriginRead, e)),
        ),
    };
    record.plan = Some(json!({"outcome": outcome, "chunks": chunks}));
    result
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Event, Fake, Reads};
    use super::*;
    use crate::sink::SinkStats;
    use std::rc::Rc;

    fn relay(reads: Reads, fake: &Fake) -> (Result<(), EdgeFault>, AccessRecord) {
        let mut down = Downstream::new(Rc::new(SinkStats::default()));
        down.prepare(fake.clone(), fake.head(200));
        let mut record = AccessRecord::for_request("GET", "/events");
        let result = relay_hosted(reads, &mut down, &mut record);
        (result, record)
    }

    #[test]
    fn every_read_is_flushed_on_its_own_and_the_end_is_clean() {
        let fake = Fake::default();
        let (result, record) = relay(Reads::of(&[b"data: 1\n\n", b"data: 2\n\n"]), &fake);
        assert_eq!(result, Ok(()));
        assert_eq!(
            fake.events(),
            vec![
                Event::Open(200),
                Event::Flushed(b"data: 1\n\n".to_vec()),
                Event::Flushed(b"data: 1\n\ndata: 2\n\n".to_vec()),
                Event::Finished(b"data: 1\n\ndata: 2\n\n".to_vec()),
            ]
        );
        assert_eq!(record.bytes_in, 18);
        assert_eq!(
            record.plan,
            Some(json!({"outcome": "completed", "chunks": 2}))
        );
    }

    #[test]
    fn an_origin_break_aborts_and_a_client_break_is_the_clients() {
        let fake = Fake::default();
        let (result, record) = relay(Reads::of(&[b"data: 1\n\n"]).then_reset(), &fake);
        assert_eq!(result.map_err(|f| *f.error), Err(EdgeError::OriginRead));
        assert_eq!(
            fake.events().last(),
            Some(&Event::Aborted(b"data: 1\n\n".to_vec()))
        );
        assert_eq!(
            record.plan,
            Some(json!({"outcome": "origin_error", "chunks": 1}))
        );

        let fake = Fake::failing_after(4);
        let (result, record) = relay(Reads::of(&[b"data: 1\n\n", b"data: 2\n\n"]), &fake);
        assert_eq!(result.map_err(|f| *f.error), Err(EdgeError::ClientGone));
        assert_eq!(
            record.plan,
            Some(json!({"outcome": "client_disconnect", "chunks": 1}))
        );
    }
}
