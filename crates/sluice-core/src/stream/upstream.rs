//! [`UpstreamSession`]: the sans-IO state machine that turns an upstream body
//! into the exact downstream bytes of an upstream plan.
//!
//! The adapter only moves bytes: it feeds each upstream chunk in, writes
//! whatever comes out, and obeys [`DownstreamStep`]. The session decides everything
//! else: record framing, mapping, the done condition, SSE framing, and how a
//! failure surfaces (502 before the first byte; after it an SSE `error`
//! event and a clean end, or an abort for text).

use super::error::{DecodeError, ErrorClass};
use super::mapper::{DoneCondition, Mapper, RecordRef};
use super::outcome::{DownstreamStep, OutputKind, Rejection, ResponseHead};
use super::plan::{Codec, SseNames, ValidatedPlan};
use super::sse::{self, encode_error_class, encode_fields};
use super::{lines, ndjson};
use serde_json::Value;

/// One step's worth of instructions for the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `Some` exactly once: send this head before writing `bytes` (or before
    /// ending the response). Never set together with [`DownstreamStep::Reject`].
    pub head: Option<ResponseHead>,
    /// Bytes to write downstream now (then flush: every output is a token
    /// boundary).
    pub bytes: Vec<u8>,
    /// What to do after writing.
    pub next: DownstreamStep,
}

/// An I/O failure the adapter observed on the upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamFailure {
    /// The backend could not be reached.
    Connect(String),
    /// The first-byte or between-bytes timeout fired.
    Timeout,
    /// Reading the body failed mid-stream (connection reset).
    Read(String),
}

/// Counters for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamStats {
    /// Records decoded.
    pub records: u64,
    /// Tokens written downstream.
    pub tokens: u64,
    /// Body bytes produced for the client.
    pub bytes_out: u64,
}

#[derive(Debug)]
enum RecordDecoder {
    Ndjson(ndjson::NdjsonDecoder, Vec<ndjson::Record>),
    Sse(sse::SseDecoder, Vec<sse::Event>),
    Lines(lines::LineDecoder, Vec<lines::Line>),
}

/// Sans-IO driver of one upstream plan.
///
/// ```
/// use sluice_core::stream::plan::{PlanPolicy, ValidatedPlan};
/// use sluice_core::stream::DownstreamStep;
///
/// let plan = br#"{"backend":"ollama","method":"POST","path":"/api/generate",
///   "codec":"ndjson","output":"text",
///   "mapper":{"kind":"text_field","pointers":["/response"]},
///   "done":{"kind":"pointer_equals","pointer":"/done","value":true}}"#;
/// let plan = ValidatedPlan::parse(plan, &PlanPolicy::new(["ollama"])).unwrap();
/// let mut session = plan.session();
/// assert_eq!(session.response_status(200).next, DownstreamStep::Continue);
/// let out = session.feed(b"{\"response\":\"Hel\"}\n{\"response\":\"lo\",");
/// assert!(out.head.is_some());            // first bytes: send the head now
/// assert_eq!(out.bytes, b"Hel");
/// let out = session.feed(b"\"done\":true}\n");
/// assert_eq!((out.bytes.as_slice(), out.next), (&b"lo"[..], DownstreamStep::Finish));
/// ```
#[derive(Debug)]
pub struct UpstreamSession {
    decoder: RecordDecoder,
    codec: Codec,
    mapper: Mapper,
    done: Option<DoneCondition>,
    output: OutputKind,
    sse: SseNames,
    head: Option<ResponseHead>,
    first_byte_sent: bool,
    terminal: Option<DownstreamStep>,
    stats: UpstreamStats,
}

/// Result of handling the records of one chunk.
enum Flow {
    Continue,
    Done,
    Failed(ErrorClass, String),
}

impl UpstreamSession {
    pub(crate) fn new(plan: &ValidatedPlan) -> Self {
        let max = plan.limits.max_record_bytes;
        let decoder = match plan.codec {
            Codec::Ndjson => RecordDecoder::Ndjson(
                ndjson::NdjsonDecoder::with_max_record_bytes(max),
                Vec::new(),
            ),
            Codec::Sse => RecordDecoder::Sse(
                sse::SseDecoder::with_limits(
                    sse::SseLimits::default()
                        .with_max_line_bytes(max)
                        .with_max_data_bytes(max),
                ),
                Vec::new(),
            ),
            Codec::Lines => {
                RecordDecoder::Lines(lines::LineDecoder::with_max_record_bytes(max), Vec::new())
            }
        };
        Self {
            decoder,
            codec: plan.codec,
            mapper: plan.mapper.clone(),
            done: plan.done.clone(),
            output: plan.output,
            sse: plan.sse.clone(),
            head: Some(plan.head.clone()),
            first_byte_sent: false,
            terminal: None,
            stats: UpstreamStats::default(),
        }
    }

    /// True once any body byte has been handed to the adapter. Before that a
    /// failure is a 502; after it, an in-band error (SSE) or an abort (text).
    pub fn first_byte_sent(&self) -> bool {
        self.first_byte_sent
    }

    /// Counters for the access log.
    pub fn stats(&self) -> UpstreamStats {
        self.stats
    }

    /// Call with the upstream response status. A non-2xx status is a failure
    /// of class `upstream_status` (a 502 to the client, since nothing was
    /// written yet).
    pub fn response_status(&mut self, status: u16) -> Output {
        if let Some(next) = &self.terminal {
            return self.repeat(next.clone());
        }
        if (200..300).contains(&status) {
            return Output {
                head: None,
                bytes: Vec::new(),
                next: DownstreamStep::Continue,
            };
        }
        self.fail_with(
            Vec::new(),
            ErrorClass::UpstreamStatus,
            format!("upstream answered {status}"),
        )
    }

    /// Call when connecting, waiting or reading failed.
    pub fn fail(&mut self, failure: UpstreamFailure) -> Output {
        if let Some(next) = &self.terminal {
            return self.repeat(next.clone());
        }
        let (class, message) = match failure {
            UpstreamFailure::Connect(m) => (ErrorClass::UpstreamConnect, m),
            UpstreamFailure::Timeout => {
                (ErrorClass::UpstreamTimeout, "upstream timed out".to_owned())
            }
            UpstreamFailure::Read(m) => (ErrorClass::UpstreamRead, m),
        };
        self.fail_with(Vec::new(), class, message)
    }

    /// Feeds one upstream body chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> Output {
        if let Some(next) = &self.terminal {
            return self.repeat(next.clone());
        }
        let mut bytes = Vec::new();
        let decoded = self.decode(chunk, false);
        let flow = self.drain(&mut bytes);
        self.conclude(bytes, flow, decoded, false)
    }

    /// The upstream body ended.
    pub fn finish(&mut self) -> Output {
        if let Some(next) = &self.terminal {
            return self.repeat(next.clone());
        }
        let mut bytes = Vec::new();
        let decoded = self.decode(&[], true);
        let flow = self.drain(&mut bytes);
        self.conclude(bytes, flow, decoded, true)
    }

    fn repeat(&self, next: DownstreamStep) -> Output {
        Output {
            head: None,
            bytes: Vec::new(),
            next,
        }
    }

    /// Runs the decoder; `Ok(true)` at finish means an SSE event was cut off.
    fn decode(&mut self, chunk: &[u8], at_end: bool) -> Result<bool, DecodeError> {
        match &mut self.decoder {
            RecordDecoder::Ndjson(dec, out) => {
                if at_end {
                    dec.finish(out).map(|()| false)
                } else {
                    dec.feed(chunk, out).map(|()| false)
                }
            }
            RecordDecoder::Lines(dec, out) => {
                if at_end {
                    dec.finish(out).map(|()| false)
                } else {
                    dec.feed(chunk, out).map(|()| false)
                }
            }
            RecordDecoder::Sse(dec, out) => {
                if at_end {
                    Ok(dec.finish())
                } else {
                    dec.feed(chunk, out).map(|()| false)
                }
            }
        }
    }

    /// Maps every decoded record, in order, until done or a failure.
    fn drain(&mut self, bytes: &mut Vec<u8>) -> Flow {
        let decoder = std::mem::replace(
            &mut self.decoder,
            RecordDecoder::Lines(lines::LineDecoder::new(), Vec::new()),
        );
        let (decoder, flow) = match decoder {
            RecordDecoder::Ndjson(dec, mut records) => {
                let mut flow = Flow::Continue;
                for record in records.drain(..) {
                    let view = RecordRef {
                        raw: &record.text,
                        json: Some(&record.value),
                    };
                    flow = self.handle(view, None, bytes);
                    if !matches!(flow, Flow::Continue) {
                        break;
                    }
                }
                (RecordDecoder::Ndjson(dec, records), flow)
            }
            RecordDecoder::Lines(dec, mut lines) => {
                let mut flow = Flow::Continue;
                for line in lines.drain(..) {
                    let view = RecordRef {
                        raw: &line.text,
                        json: None,
                    };
                    flow = self.handle(view, None, bytes);
                    if !matches!(flow, Flow::Continue) {
                        break;
                    }
                }
                (RecordDecoder::Lines(dec, lines), flow)
            }
            RecordDecoder::Sse(dec, mut events) => {
                let mut flow = Flow::Continue;
                for event in events.drain(..) {
                    flow = self.handle_sse_event(&event, bytes);
                    if !matches!(flow, Flow::Continue) {
                        break;
                    }
                }
                (RecordDecoder::Sse(dec, events), flow)
            }
        };
        self.decoder = decoder;
        flow
    }

    fn handle_sse_event(&mut self, event: &sse::Event, bytes: &mut Vec<u8>) -> Flow {
        let raw = RecordRef {
            raw: &event.data,
            json: None,
        };
        if self.done.as_ref().is_some_and(|d| d.is_sentinel(raw)) {
            self.stats.records += 1;
            return Flow::Done;
        }
        let wants_json = self.mapper.needs_json()
            || matches!(self.done, Some(DoneCondition::PointerEquals { .. }));
        let parsed: Option<Value> = if wants_json {
            match serde_json::from_str(&event.data) {
                Ok(v) => Some(v),
                Err(e) if self.mapper.needs_json() => {
                    return Flow::Failed(
                        ErrorClass::UpstreamProtocol,
                        format!("SSE event {} data is not JSON: {e}", self.stats.records),
                    )
                }
                Err(_) => None,
            }
        } else {
            None
        };
        let view = RecordRef {
            raw: &event.data,
            json: parsed.as_ref(),
        };
        self.handle(view, Some(event), bytes)
    }

    /// Maps one record and checks the done condition.
    fn handle(
        &mut self,
        record: RecordRef<'_>,
        sse_source: Option<&sse::Event>,
        bytes: &mut Vec<u8>,
    ) -> Flow {
        self.stats.records += 1;
        if self.done.as_ref().is_some_and(|d| d.is_sentinel(record)) {
            return Flow::Done;
        }
        if let Some(token) = self.mapper.token(record) {
            if let Err(e) = self.write_token(&token, sse_source, bytes) {
                return Flow::Failed(ErrorClass::Internal, e.to_string());
            }
        }
        if self
            .done
            .as_ref()
            .is_some_and(|d| d.is_pointer_match(record))
        {
            return Flow::Done;
        }
        Flow::Continue
    }

    fn write_token(
        &mut self,
        token: &str,
        sse_source: Option<&sse::Event>,
        bytes: &mut Vec<u8>,
    ) -> Result<(), super::FrameError> {
        let passthrough = matches!(self.mapper, Mapper::Passthrough {});
        match self.output {
            OutputKind::Sse => {
                // Passthrough from SSE keeps the upstream's name, id and
                // retry; field mappers produce fresh token events.
                let source = sse_source.filter(|_| passthrough);
                let event = self
                    .sse
                    .token_event
                    .as_deref()
                    .or(source.and_then(|e| e.event.as_deref()));
                encode_fields(
                    event,
                    source.and_then(|e| e.id.as_deref()),
                    source.and_then(|e| e.retry),
                    Some(token),
                    bytes,
                )?;
            }
            OutputKind::Text => {
                bytes.extend_from_slice(token.as_bytes());
                if passthrough {
                    bytes.push(b'\n');
                }
            }
        }
        self.stats.tokens += 1;
        Ok(())
    }

    fn conclude(
        &mut self,
        bytes: Vec<u8>,
        flow: Flow,
        decoded: Result<bool, DecodeError>,
        at_end: bool,
    ) -> Output {
        match flow {
            Flow::Done => return self.complete(bytes),
            Flow::Failed(class, message) => return self.fail_with(bytes, class, message),
            Flow::Continue => {}
        }
        match decoded {
            Err(e) => self.fail_with(bytes, e.class(), e.to_string()),
            Ok(true) => self.fail_with(
                bytes,
                ErrorClass::UpstreamTruncated,
                "upstream ended inside an SSE event".to_owned(),
            ),
            Ok(false) if at_end => {
                if self.done.is_some() {
                    self.fail_with(
                        bytes,
                        ErrorClass::UpstreamTruncated,
                        "upstream ended before its done condition".to_owned(),
                    )
                } else {
                    self.complete(bytes)
                }
            }
            Ok(false) => {
                let head = self.take_head_if(!bytes.is_empty());
                self.count(&bytes);
                Output {
                    head,
                    bytes,
                    next: DownstreamStep::Continue,
                }
            }
        }
    }

    /// Clean completion: the final SSE event, if configured, then Finish.
    fn complete(&mut self, mut bytes: Vec<u8>) -> Output {
        if self.output == OutputKind::Sse {
            if let Some(fin) = &self.sse.final_event {
                if let Err(e) = encode_fields(
                    fin.event.as_deref(),
                    None,
                    None,
                    Some(&fin.data),
                    &mut bytes,
                ) {
                    return self.fail_with(bytes, ErrorClass::Internal, e.to_string());
                }
            }
        }
        let head = self.take_head_if(true);
        self.count(&bytes);
        self.terminal = Some(DownstreamStep::Finish);
        Output {
            head,
            bytes,
            next: DownstreamStep::Finish,
        }
    }

    /// A failure: 502 if nothing was or is about to be written, otherwise an
    /// in-band error (SSE) or an abort (text) after `bytes`.
    fn fail_with(&mut self, mut bytes: Vec<u8>, class: ErrorClass, message: String) -> Output {
        let next = if !self.first_byte_sent && bytes.is_empty() {
            self.terminal = Some(DownstreamStep::Reject(Rejection {
                class: class.as_str().to_owned(),
                message: message.clone(),
            }));
            return Output {
                head: None,
                bytes,
                next: DownstreamStep::Reject(Rejection {
                    class: class.as_str().to_owned(),
                    message,
                }),
            };
        } else if self.output == OutputKind::Sse {
            encode_error_class(class, &message, &mut bytes);
            DownstreamStep::Finish
        } else {
            DownstreamStep::Abort
        };
        let head = self.take_head_if(true);
        self.count(&bytes);
        self.terminal = Some(next.clone());
        Output { head, bytes, next }
    }

    fn take_head_if(&mut self, cond: bool) -> Option<ResponseHead> {
        if cond {
            self.head.take()
        } else {
            None
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.first_byte_sent = true;
            self.stats.bytes_out += bytes.len() as u64;
        }
    }

    /// The codec this session decodes.
    pub fn codec(&self) -> Codec {
        self.codec
    }
}
