//! `GET /`: an HTML index linking every corpus page and demo endpoint, with
//! absolute URLs on `?host=` (default `origin.example`).

use super::{allow, link_host, with_type, Ctx};
use crate::body::ResBody;
use crate::error::RouteError;
use http::{Method, Response, StatusCode};
use std::fmt::Write;

const ENDPOINTS: &[(&str, &str)] = &[
    ("/bytes/1048576", "1 MiB of deterministic bytes"),
    ("/drip/16384", "16 KiB dripped 1 KiB every 100 ms"),
    ("/gen/html/1048576", "1 MiB generated HTML"),
    ("/gen/css/1048576?enc=gzip", "1 MiB generated CSS, gzip"),
    ("/gen/js/65536", "64 KiB generated JavaScript"),
    ("/status/404", "branded 404 page"),
    ("/status/500", "branded 500 page"),
    ("/redirect?to=https://origin.example/pages/", "redirect"),
    ("/cookie?domain=origin.example", "cookies"),
    ("/sse?n=10&interval_ms=200", "server-sent events"),
    ("/echo/hello", "echo the request"),
    ("/__events", "event log"),
];

pub fn serve(ctx: &Ctx, method: &Method) -> Result<Response<ResBody>, RouteError> {
    allow(method, &[Method::GET, Method::HEAD], "GET, HEAD")?;
    let host = link_host(&ctx.query)?;
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sluice origin</title></head>\n<body>\n<h1>sluice origin</h1>\n<h2>Pages</h2>\n<ul>\n",
    );
    for p in ctx.state.corpus.pages() {
        let _ = writeln!(
            html,
            "<li><a href=\"https://{host}/pages/{n}\">{n}</a> ({b} bytes, origin host {o})</li>",
            n = p.name,
            b = p.bytes.len(),
            o = p.origin_host.as_deref().unwrap_or("-"),
        );
    }
    html.push_str("</ul>\n<h2>Endpoints</h2>\n<ul>\n");
    for (path, what) in ENDPOINTS {
        let path = path.replace('&', "&amp;");
        let _ = writeln!(html, "<li><a href=\"https://{host}{path}\">{what}</a></li>");
    }
    html.push_str("</ul>\n</body></html>\n");
    Ok(with_type(StatusCode::OK, "text/html; charset=utf-8", html))
}
