//! Sending the body in the mode the handler chose.

use std::io::Read;
use std::rc::Rc;

use fastly::http::{header, FramingHeadersMode};
use fastly::{Body, Response};
use sha2::{Digest, Sha256};
use sluice_core::error::{ErrorSource, PipelineError};
use sluice_core::http::PassReason;
use sluice_core::pipeline::{Pipeline, PipelineConfig};

use super::{headers, Ctx, PublisherResponse};
use crate::access_log::AccessRecord;
use crate::sink::{ClientSink, SinkStats};

/// Size of one read from the origin body. Reads return as soon as any
/// bytes are available, so this bounds memory, not latency.
const READ_CHUNK: usize = 16 * 1024;

/// Why a rewritten body did not complete.
#[derive(Debug, thiserror::Error)]
enum BodyFailure {
    /// Reading the origin body failed (reset, timeout).
    #[error("reading the origin body: {0}")]
    OriginRead(std::io::Error),
    /// The pipeline refused the input or could not write.
    #[error("pipeline: {0}")]
    Pipeline(PipelineError),
    /// Finishing the client stream failed.
    #[error("finishing the client stream: {0}")]
    Finish(std::io::Error),
}

impl BodyFailure {
    fn class(&self) -> &'static str {
        match self {
            BodyFailure::OriginRead(_) => "origin_read",
            BodyFailure::Pipeline(e) => e.class(),
            BodyFailure::Finish(_) => "client_write",
        }
    }

    fn is_client_side(&self) -> bool {
        match self {
            BodyFailure::Finish(_) => true,
            BodyFailure::Pipeline(e) => e.source_side() == ErrorSource::Downstream,
            BodyFailure::OriginRead(_) => false,
        }
    }
}

/// Sends the handler's answer. Returns the response for `main` to send
/// when the body was not streamed here (pass-through, or an error before
/// commit); `None` when the response has already gone out.
pub fn send(
    answer: PublisherResponse,
    ctx: &Ctx<'_>,
    mut record: AccessRecord,
) -> Option<Response> {
    let stats = Rc::new(SinkStats::default());
    let (sink, body, pipeline, mode) = match answer {
        PublisherResponse::PassThrough(mut resp, reason) => {
            record.mode = "passthrough";
            record.pass_reason = Some(reason.as_str());
            record.status = resp.get_status().as_u16();
            if reason == PassReason::Head {
                // The body is empty, so automatic framing would drop the
                // origin's Content-Length; HEAD must report the GET length.
                resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
            } else {
                record.bytes_out = resp
                    .get_header_str(header::CONTENT_LENGTH)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            record.emit(ctx.started, None);
            return Some(resp);
        }
        PublisherResponse::Planned(planned) => return crate::plans::run(planned, ctx, record),
        PublisherResponse::Stream {
            response,
            body,
            pipeline,
        } => {
            record.status = response.get_status().as_u16();
            (
                ClientSink::streaming(response, Rc::clone(&stats)),
                body,
                pipeline,
                "stream",
            )
        }
        PublisherResponse::Buffered {
            response,
            body,
            pipeline,
            cap,
        } => {
            record.status = response.get_status().as_u16();
            let started = ctx.started;
            let sink = ClientSink::buffered(
                response,
                cap,
                Rc::clone(&stats),
                Box::new(finalize_buffered),
                Box::new(move |head: &mut Response| {
                    head.remove_header("server-timing");
                    headers::server_timing(head, started, "stream");
                }),
            );
            (sink, body, pipeline, "buffered")
        }
    };
    record.mode = mode;

    let mut bytes_in = 0u64;
    let result = run(body, pipeline, sink, &mut bytes_in);
    record.bytes_in = bytes_in;
    record.bytes_out = stats.bytes_out.get();
    if stats.spilled.get() {
        record.mode = "stream";
    }
    match result {
        Ok(()) => {
            record.emit(ctx.started, stats.committed_at.get());
            None
        }
        Err(failure) if !stats.committed() => {
            // Nothing reached the client yet: answer with a clean status.
            log::error!("rewrite failed before the first byte: {failure}");
            record.status = 502;
            record.error_class = Some(failure.class());
            record.emit(ctx.started, None);
            Some(
                Response::from_status(502)
                    .with_header("x-sluice-error-class", failure.class())
                    .with_header(header::CACHE_CONTROL, "no-store")
                    .with_body_text_plain("sluice: the origin's response could not be processed\n"),
            )
        }
        Err(failure) => {
            // Committed: the sink was dropped without `finish`, which aborts
            // the response; the client sees a broken body, never a clean end.
            if failure.is_client_side() {
                log::info!("client went away mid-stream: {failure}");
            } else {
                log::error!("aborting committed stream ({}): {failure}", failure.class());
            }
            record.abort = Some(failure.class().to_owned());
            record.emit(ctx.started, stats.committed_at.get());
            None
        }
    }
}

fn run(
    mut body: Body,
    config: PipelineConfig,
    sink: ClientSink,
    bytes_in: &mut u64,
) -> Result<(), BodyFailure> {
    let mut pipeline = Pipeline::new(config, sink).map_err(BodyFailure::Pipeline)?;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyFailure::OriginRead(e)),
        };
        *bytes_in += n as u64;
        pipeline
            .write_chunk(&buf[..n])
            .map_err(BodyFailure::Pipeline)?;
    }
    let sink = pipeline.finish().map_err(BodyFailure::Pipeline)?;
    sink.finish().map_err(BodyFailure::Finish)
}

/// The buffered post-processor: the final body is known, so the response
/// gets an exact `Content-Length` and a strong `ETag` over the bytes sent.
fn finalize_buffered(head: &mut Response, body: &[u8]) {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(2 + 32);
    tag.push('"');
    for b in &digest[..16] {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push('"');
    head.set_header(header::ETAG, tag);
    head.set_header(header::CONTENT_LENGTH, body.len().to_string());
}
