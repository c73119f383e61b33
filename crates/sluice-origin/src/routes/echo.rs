//! `ANY /echo/...`: describes the request exactly as received, so a test
//! sees what the edge sent upstream. The body is hashed streaming, never
//! buffered.

use super::json;
use crate::body::ResBody;
use crate::error::RouteError;
use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

/// Length and SHA-256 of a request body read to the end.
pub struct BodySummary {
    /// Bytes received.
    pub len: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// Reads `body` to the end, hashing as it goes. On a broken body returns
/// the bytes received so far with the error.
pub async fn consume(
    mut body: Incoming,
    mut on_bytes: impl FnMut(u64),
) -> Result<BodySummary, (u64, String)> {
    let mut h = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| (len, e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            h.update(&data);
            len += data.len() as u64;
            on_bytes(len);
        }
    }
    Ok(BodySummary {
        len,
        sha256: format!("{:x}", h.finalize()),
    })
}

/// Whether the request came with `Transfer-Encoding: chunked`.
pub fn is_chunked(req_headers: &http::HeaderMap) -> bool {
    req_headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("chunked"))
}

pub async fn serve(req: Request<Incoming>) -> Result<Response<ResBody>, RouteError> {
    let (parts, body) = req.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let summary = consume(body, |_| {})
        .await
        .map_err(|(n, e)| RouteError::bad(format!("request body broke after {n} bytes: {e}")))?;
    let v = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": summary.len,
        "body_sha256": summary.sha256,
        "chunked": is_chunked(&parts.headers),
    });
    Ok(json(StatusCode::OK, &v))
}
