//! The client side: how a head and a body reach the client on Fastly.

use std::io::{self, Write};

use fastly::http::body::StreamingBody;
use fastly::{Body, Response};
use sluice_core::page::Append;
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

/// The client's streaming body.
pub struct ClientBody(StreamingBody);

impl Write for ClientBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Append<Body> for ClientBody {
    fn append_rest(&mut self, rest: Body) -> Result<(), Body> {
        // `append` flushes too, and panics if that fails: flush first so
        // a client that went away is an error here, not a panic there.
        if self.0.flush().is_err() {
            return Err(rest);
        }
        self.0.append(rest);
        Ok(())
    }
}

impl Commit for ToClient {
    type Head = Response;
    type Body = ClientBody;

    fn status(head: &Response) -> u16 {
        head.get_status().as_u16()
    }

    fn open(&mut self, head: Response) -> io::Result<ClientBody> {
        Ok(ClientBody(head.stream_to_client()))
    }

    fn send_whole(&mut self, head: Response, body: Vec<u8>) -> io::Result<()> {
        head.with_body(body).send_to_client();
        Ok(())
    }

    fn finish(&mut self, body: ClientBody) -> io::Result<()> {
        body.0.finish()
    }

    fn abort(&mut self, body: ClientBody) {
        // `abandon` says so to the host explicitly; dropping would too.
        let _ = body.0.abandon();
    }
}

impl Planned for ToClient {
    fn planned(head: &ResponseHead) -> (Self, Response) {
        let headers = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        (ToClient, super::message::response(head.status, headers))
    }
}
