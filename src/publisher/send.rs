//! The origin request: the upload policy, and a `206` of a page fetched
//! again whole (the edge cannot rewrite a fragment; a server may always
//! ignore `Range`).

use error_stack::Report;
use fastly::http::{header, Method};
use fastly::Request;
use sluice_core::http::upload;

use super::BACKEND;
use crate::lifecycle::backend;
use crate::lifecycle::error::report;
use crate::lifecycle::message;
use crate::lifecycle::{Cx, EdgeError};

/// Sends to `origin` with the upload policy, and asks again without
/// `Range` when a `206` of a processable type comes back (the edge cannot
/// rewrite a fragment; a server may always ignore `Range`).
pub fn send(
    req: Request,
    cx: &Cx<'_>,
    rewrites: bool,
) -> Result<fastly::Response, Report<EdgeError>> {
    let policy = upload::upload_policy(
        message::header(&req, header::CONTENT_LENGTH),
        req.has_body(),
        cx.settings.upload_max_bytes,
    )
    .map_err(|e| report(e.into()))?;
    let retry = (req.get_method() == Method::GET && req.contains_header(header::RANGE))
        .then(|| req.clone_without_body());
    let resp = match policy {
        upload::Upload::Handle => backend::send(req, BACKEND, None)?,
        upload::Upload::Counted(limit) => backend::send_counted(req, BACKEND, limit)?,
    };
    let ct = resp
        .get_header(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match retry {
        Some(mut retry)
            if upload::refetch_whole(resp.get_status().as_u16(), ct, true, rewrites) =>
        {
            log::debug!("206 of a processable type: fetching it whole to rewrite it");
            retry.remove_header(header::RANGE);
            retry.remove_header(header::IF_RANGE);
            backend::send(retry, BACKEND, None)
        }
        _ => Ok(resp),
    }
}
