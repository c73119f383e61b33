//! `GET|HEAD /pages/{name}`: a corpus page in the negotiated or requested
//! encoding, with the shared delivery options.

use super::{allow, cond, content_type, Ctx};
use crate::body::{self, shape, tracked, BodyOpts, ResBody, Track};
use crate::encode::Encoding;
use crate::error::RouteError;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

/// What goes on the wire: the body's real encoding and the header claim.
struct Choice {
    body: Encoding,
    header: Option<&'static str>,
}

fn choose(ctx: &Ctx, req: &Request<Incoming>, opts: &BodyOpts) -> Result<Choice, RouteError> {
    if let Some(lie) = opts.lie {
        return Ok(Choice {
            body: Encoding::Identity,
            header: Some(lie),
        });
    }
    let enc = match ctx.query.get("enc") {
        Some("zstd") => {
            return Ok(Choice {
                body: Encoding::Identity,
                header: Some("zstd"),
            })
        }
        Some(e) => Encoding::parse(e).ok_or_else(|| {
            RouteError::bad(format!(
                "enc={e:?}: use identity, gzip, deflate, deflate-raw, br or zstd"
            ))
        })?,
        None => Encoding::negotiate(
            req.headers()
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    Ok(Choice {
        body: enc,
        header: enc.header_value(),
    })
}

pub async fn serve(
    ctx: &Ctx,
    req: &Request<Incoming>,
    name: &str,
) -> Result<Response<ResBody>, RouteError> {
    allow(req.method(), &[Method::GET, Method::HEAD], "GET, HEAD")?;
    let page = ctx
        .state
        .corpus
        .get(name)
        .ok_or_else(|| RouteError::NotFound(format!("no corpus page {name:?}")))?;
    let opts = super::body_opts(ctx)?;
    if let Some(failed) = super::injected_failure(&opts) {
        return Ok(failed);
    }
    let choice = choose(ctx, req, &opts)?;
    let data: Bytes = ctx.state.corpus.encoded(&page, choice.body).await?;
    let etag = format!("\"{}-{}\"", page.tag, choice.header.unwrap_or("identity"));
    let etag_value =
        HeaderValue::from_str(&etag).map_err(|e| RouteError::Internal(e.to_string()))?;

    let mut b = Response::builder()
        .header(header::ETAG, etag_value)
        .header(header::LAST_MODIFIED, cond::last_modified_value())
        .header(header::VARY, "Accept-Encoding");
    b = super::extra_headers(b, &ctx.query)?;
    if cond::not_modified(req.headers(), &etag) {
        return Ok(b.status(StatusCode::NOT_MODIFIED).body(body::empty())?);
    }
    b = b.status(StatusCode::OK).header(
        header::CONTENT_TYPE,
        content_type(&ctx.query, &format!("text/html; charset={}", page.charset))?,
    );
    if let Some(enc) = choice.header {
        b = b.header(header::CONTENT_ENCODING, enc);
    }
    if ctx.query.get("disposition") == Some("attachment") {
        // A page saved as a download: the edge must pass it through.
        b = b.header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        );
    }
    if !opts.chunked {
        b = b.header(header::CONTENT_LENGTH, data.len());
    }
    if req.method() == Method::HEAD {
        return Ok(b.body(body::empty())?);
    }
    let len = data.len() as u64;
    let source = Box::pin(futures_util::stream::iter([Ok(data)]));
    let stream = shape(source, &opts, ctx.ctl.clone());
    let track = Track {
        events: ctx.state.events.clone(),
        path: ctx.path.clone(),
        expected: Some(len),
        llm: false,
    };
    Ok(b.body(tracked(stream, track))?)
}
