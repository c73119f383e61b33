//! Sending the prepared request to the `origin` backend.

use error_stack::Report;
use fastly::http::{header, Method, StatusCode};
use fastly::{Request, Response};
use sluice_core::content_kind::ContentKind;
use sluice_core::encoding::ContentEncoding;
use sluice_core::limits::PipelineLimits;
use sluice_core::pipeline::PipelineConfig;
use sluice_core::rewrite::RewriteRules;

use super::{Ctx, BACKEND};
use crate::edge_error::EdgeError;
use crate::upstream;

/// Sends the client request to the origin and returns its response head.
///
/// `Range` is forwarded as is. If the origin answers a ranged request with
/// a `206` of a processable type, the edge cannot rewrite a fragment (byte
/// offsets would shift), so it asks again without `Range` and serves the
/// whole rewritten document (a server may always ignore `Range`).
pub fn fetch(
    mut req: Request,
    ctx: &Ctx<'_>,
    synthetic_id: &str,
) -> Result<Response, Report<EdgeError>> {
    upstream::prepare(&mut req, ctx.view, synthetic_id);
    let retry = (req.get_method() == Method::GET && req.contains_header(header::RANGE))
        .then(|| req.clone_without_body());
    let resp = match upload_policy(&req, ctx.settings.upload_max_bytes)? {
        Upload::Handle => send(req)?,
        Upload::Counted(limit) => send_counted(req, limit)?,
    };
    if let Some(mut retry) = retry {
        let processable = resp
            .get_header_str(header::CONTENT_TYPE)
            .is_some_and(|ct| ContentKind::from_content_type(ct).is_processable());
        if resp.get_status() == StatusCode::PARTIAL_CONTENT
            && processable
            && !ctx.settings.rewrite_hosts.is_empty()
        {
            log::debug!("206 of a processable type: refetching without Range to rewrite it");
            retry.remove_header(header::RANGE);
            retry.remove_header(header::IF_RANGE);
            return send(retry);
        }
    }
    Ok(resp)
}

/// How a request body goes upstream.
enum Upload {
    /// The client body handle goes upstream as is: the host streams it,
    /// no byte enters guest memory.
    Handle,
    /// A body of unknown length with a size limit: the guest copies it
    /// chunk by chunk so it can count, and aborts past the limit.
    Counted(u64),
}

fn upload_policy(req: &Request, limit: Option<u64>) -> Result<Upload, Report<EdgeError>> {
    let Some(limit) = limit else {
        return Ok(Upload::Handle);
    };
    match req
        .get_header_str(header::CONTENT_LENGTH)
        .map(str::parse::<u64>)
    {
        Some(Ok(len)) if len > limit => Err(Report::new(EdgeError::PayloadTooLarge).attach(
            format!("Content-Length {len} over upload.max_bytes {limit}"),
        )),
        Some(Ok(_)) => Ok(Upload::Handle),
        Some(Err(_)) => {
            Err(Report::new(EdgeError::BadRequest).attach("unparseable Content-Length"))
        }
        None if req.has_body() => Ok(Upload::Counted(limit)),
        None => Ok(Upload::Handle),
    }
}

/// Streams a body of unknown length upstream while counting it. Past the
/// limit the upstream body is dropped without `finish`, so the origin sees
/// an aborted request, never a complete truncated one.
fn send_counted(mut req: Request, limit: u64) -> Result<Response, Report<EdgeError>> {
    use std::io::{Read, Write};
    let mut client_body = req.take_body();
    let (mut upstream, pending) = req
        .send_async_streaming(BACKEND)
        .map_err(|e| send_error(&e))?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = client_body.read(&mut buf).map_err(|e| {
            Report::new(EdgeError::BadRequest).attach(format!("reading upload: {e}"))
        })?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            drop(upstream);
            drop(pending);
            return Err(Report::new(EdgeError::PayloadTooLarge)
                .attach(format!("chunked upload passed upload.max_bytes {limit}")));
        }
        upstream.write_all(&buf[..n]).map_err(|e| {
            Report::new(EdgeError::OriginUnreachable).attach(format!("upload: {e}"))
        })?;
    }
    upstream
        .finish()
        .map_err(|e| Report::new(EdgeError::OriginUnreachable).attach(format!("upload: {e}")))?;
    pending.wait().map_err(|e| send_error(&e))
}

fn send(req: Request) -> Result<Response, Report<EdgeError>> {
    req.send(BACKEND).map_err(|e| send_error(&e))
}

fn send_error(e: &fastly::http::request::SendError) -> Report<EdgeError> {
    let kind = match e.root_cause() {
        fastly::http::request::SendErrorCause::HttpResponseTimeout
        | fastly::http::request::SendErrorCause::ConnectionTimeout
        | fastly::http::request::SendErrorCause::DnsTimeout => EdgeError::OriginTimeout,
        fastly::http::request::SendErrorCause::HttpIncompleteResponse
        | fastly::http::request::SendErrorCause::HttpResponseHeaderSectionTooLarge
        | fastly::http::request::SendErrorCause::HttpResponseStatusInvalid
        | fastly::http::request::SendErrorCause::HttpProtocolError => EdgeError::OriginInvalid,
        _ => EdgeError::OriginUnreachable,
    };
    Report::new(kind).attach(format!(
        "sending to backend `{BACKEND}`: {}",
        e.root_cause()
    ))
}

/// The rewrite rules for this request: configured origin hosts become the
/// edge's own scheme and authority.
pub fn rules_for(ctx: &Ctx<'_>) -> Result<RewriteRules, Report<EdgeError>> {
    RewriteRules::new(
        &ctx.settings.rewrite_hosts,
        ctx.view.scheme,
        &ctx.view.authority,
    )
    .map_err(|e| Report::new(EdgeError::Config).attach(format!("rewrite rules: {e}")))
}

/// The pipeline configuration for a rewritten body.
pub fn pipeline_config(
    ctx: &Ctx<'_>,
    rules: RewriteRules,
    input: ContentEncoding,
    output: ContentEncoding,
    kind: ContentKind,
    charset: Option<String>,
) -> PipelineConfig {
    let mut limits = PipelineLimits::default();
    if let Some(max) = ctx.settings.max_decoded_bytes {
        limits = limits.with_max_decoded_bytes(Some(max));
    }
    let mut config = PipelineConfig::new(input, output, kind, rules);
    config.limits = limits;
    config.charset = charset;
    config.gzip_level = ctx.settings.gzip_level;
    config.brotli_quality = ctx.settings.brotli_quality;
    config
}
