//! The client side: how a head and a body reach the client on Fastly.

use std::io;

use fastly::http::body::StreamingBody;
use fastly::Response;
use sluice_core::sink::{ClientSink, Commit};
use sluice_core::stream::drive::Planned;
use sluice_core::stream::ResponseHead;

/// Sends to the client: `stream_to_client` for a streamed body (dropping
/// the `StreamingBody` without `finish` aborts it), `send_to_client` for a
/// whole one.
#[derive(Debug, Default)]
pub struct ToClient;

/// The client-facing sink.
pub type Sink = ClientSink<ToClient>;

impl Commit for ToClient {
    type Head = Response;
    type Body = StreamingBody;

    fn status(head: &Response) -> u16 {
        head.get_status().as_u16()
    }

    fn open(&mut self, head: Response) -> io::Result<StreamingBody> {
        Ok(head.stream_to_client())
    }

    fn send_whole(&mut self, head: Response, body: Vec<u8>) -> io::Result<()> {
        head.with_body(body).send_to_client();
        Ok(())
    }

    fn finish(&mut self, body: StreamingBody) -> io::Result<()> {
        body.finish()
    }

    fn abort(&mut self, body: StreamingBody) {
        // `abandon` says so to the host explicitly; dropping would too.
        let _ = body.abandon();
    }
}

impl Planned for ToClient {
    fn planned(head: &ResponseHead) -> (Self, Response) {
        (ToClient, super::message::planned_head(head))
    }
}
