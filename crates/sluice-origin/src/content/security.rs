//! Pages that carry their own security for the browser tests: a
//! Content-Security-Policy with host sources, one with hash sources, one
//! with a nonce, and Subresource Integrity on a script and a stylesheet.
//!
//! Every script sets a marker (`window.__marks`), so a test can tell which
//! ran. Everything is a pure function of the link host (`?host=`, the host
//! the edge rewrites), except the SRI resources, whose bytes are fixed so
//! their hashes can be computed once when the server starts
//! ([`SriResources`]).

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The host the SRI resources name inside their bodies (the test rewrite
/// host), so an edge that did not serve them raw would change them.
pub const SRI_BODY_HOST: &str = "origin.example";

/// The nonce of the nonce page. A real site draws a new one per response;
/// a fixed one keeps the page deterministic, and the edge must pass it
/// through untouched either way.
pub const NONCE: &str = "c2x1aWNlLXRlc3Qtbm9uY2U";

/// A CSP hash source (`'sha256-…'`) of `text`'s UTF-8 bytes.
pub fn hash_source(alg: &str, text: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let digest = match alg {
        "sha384" => engine.encode(Sha384::digest(text.as_bytes())),
        "sha512" => engine.encode(Sha512::digest(text.as_bytes())),
        _ => engine.encode(Sha256::digest(text.as_bytes())),
    };
    format!("'{alg}-{digest}'")
}

/// The start of every page: markers, and a data: favicon so the browser
/// asks for nothing the policies do not mention.
fn head(title: &str, extra: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <link rel=\"icon\" href=\"data:,\">{extra}</head>\n"
    )
}

/// A page's HTML and its `Content-Security-Policy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPage {
    /// The document.
    pub html: String,
    /// The `Content-Security-Policy` value, if any.
    pub csp: Option<String>,
}

/// Host sources: the policy lists `host` in `script-src`, `img-src` and
/// `connect-src`; two external scripts set markers `one` and `two`, a
/// third fetches `https://host/security/data.json` and sets `fetch:true`,
/// and two images load from `host`.
pub fn csp_hosts(host: &str) -> SecurityPage {
    let mut html = head("CSP host sources", "");
    html.push_str(&format!(
        "<body>\n<h1>CSP host sources</h1>\n\
         <img id=\"img-a\" src=\"https://{host}/security/img/a.svg\" alt=\"a\">\n\
         <img id=\"img-b\" src=\"//{host}/security/img/b.svg\" alt=\"b\">\n\
         <script src=\"https://{host}/security/js/one.js\"></script>\n\
         <script src=\"//{host}/security/js/two.js\"></script>\n\
         <script src=\"https://{host}/security/js/fetch.js\"></script>\n\
         </body></html>\n"
    ));
    SecurityPage {
        html,
        csp: Some(format!(
            "script-src https://{host}; img-src https://{host} data:; connect-src https://{host}; \
             base-uri 'none'; object-src 'none'"
        )),
    }
}

/// The three inline scripts of the hash page: the first names `host` as a
/// plain URL, the second as a JSON-escaped one (`https:\/\/host\/...`), the
/// third names no URL; each sets a marker.
pub fn inline_scripts(host: &str) -> [String; 3] {
    [
        format!(
            "(window.__marks = window.__marks || []).push('inline-a'); \
             window.__urlA = 'https://{host}/security/a';"
        ),
        format!(
            "(window.__marks = window.__marks || []).push('inline-b'); \
             window.__urlB = JSON.parse('{{\"u\":\"https:\\/\\/{host}\\/security\\/b\"}}').u;"
        ),
        "(window.__marks = window.__marks || []).push('inline-c');".to_owned(),
    ]
}

/// Hash sources: the policy allows exactly the three inline scripts by
/// hash (SHA-256 for the first, SHA-384 and SHA-256 for the second,
/// SHA-512 for the third), and `pad` bytes of filler follow them so a test
/// can put the page over the edge's buffering cap.
pub fn csp_hashes(host: &str, pad: usize) -> SecurityPage {
    let [a, b, c] = inline_scripts(host);
    let mut html = head("CSP hash sources", "");
    html.push_str("<body>\n<h1>CSP hash sources</h1>\n");
    for s in [&a, &b, &c] {
        html.push_str(&format!("<script>{s}</script>\n"));
    }
    html.push_str("<!-- filler -->\n");
    let line = "<p>filler filler filler filler filler filler filler filler</p>\n";
    while html.len() < pad {
        html.push_str(line);
    }
    html.push_str("</body></html>\n");
    let policy = format!(
        "script-src {} {} {} {}; object-src 'none'",
        hash_source("sha256", &a),
        hash_source("sha384", &b),
        hash_source("sha256", &b),
        hash_source("sha512", &c),
    );
    SecurityPage {
        html,
        csp: Some(policy),
    }
}

/// A nonce policy: two inline scripts (one naming `host`) and one
/// external script on `host`, all with [`NONCE`].
pub fn csp_nonce(host: &str) -> SecurityPage {
    let mut html = head("CSP nonce", "");
    html.push_str(&format!(
        "<body>\n<h1>CSP nonce</h1>\n\
         <script nonce=\"{NONCE}\">(window.__marks = window.__marks || []).push('nonce-a'); \
         window.__urlN = 'https://{host}/security/n';</script>\n\
         <script nonce='{NONCE}'>(window.__marks = window.__marks || []).push('nonce-b');</script>\n\
         <script nonce={NONCE} src=\"https://{host}/security/js/one.js\"></script>\n\
         </body></html>\n"
    ));
    SecurityPage {
        html,
        csp: Some(format!(
            "script-src 'nonce-{NONCE}'; object-src 'none'; base-uri 'none'"
        )),
    }
}

/// The SRI page: a script and a stylesheet on `host`, each pinned with
/// `integrity` (SHA-384 of the bytes [`SriResources`] serves) and
/// `crossorigin`. The stylesheet colours `#sri-target` `rgb(1, 2, 3)`.
pub fn sri_page(host: &str, sri: &SriResources) -> SecurityPage {
    let mut html = head(
        "Subresource Integrity",
        &format!(
            "<link rel=\"stylesheet\" href=\"https://{host}/security/sri/site.css\" \
             integrity=\"{}\" crossorigin=\"anonymous\">",
            sri.css_integrity
        ),
    );
    html.push_str(&format!(
        "<body>\n<h1 id=\"sri-target\">Subresource Integrity</h1>\n\
         <script src=\"https://{host}/security/sri/app.js\" integrity=\"{}\" \
         crossorigin=\"anonymous\"></script>\n</body></html>\n",
        sri.js_integrity
    ));
    SecurityPage { html, csp: None }
}

/// The SRI resources and their `integrity` values, computed once.
#[derive(Debug, Clone)]
pub struct SriResources {
    /// `app.js`: sets the marker `sri-js` and names [`SRI_BODY_HOST`].
    pub js: String,
    /// `sha384-…` of `js`.
    pub js_integrity: String,
    /// `site.css`: colours `#sri-target` and names [`SRI_BODY_HOST`] (in
    /// a comment and a rule for an element the page does not have: the
    /// raw stylesheet keeps origin URLs, which a test browser cannot
    /// reach).
    pub css: String,
    /// `sha384-…` of `css`.
    pub css_integrity: String,
}

impl SriResources {
    /// Builds the resources and hashes them.
    pub fn new() -> Self {
        let js = format!(
            "(window.__marks = window.__marks || []).push('sri-js');\n\
             window.__sriUrl = 'https://{SRI_BODY_HOST}/security/sri/app.js';\n\
             window.__sriJson = 'https:\\/\\/{SRI_BODY_HOST}\\/security\\/x';\n"
        );
        let css = format!(
            "/* https://{SRI_BODY_HOST}/security/sri/site.css */\n\
             #sri-target {{ color: rgb(1, 2, 3); }}\n\
             #sri-absent {{ background-image: url(\"https://{SRI_BODY_HOST}/security/img/a.svg\"); }}\n"
        );
        let integrity = |s: &str| {
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(s.as_bytes()))
            )
        };
        Self {
            js_integrity: integrity(&js),
            css_integrity: integrity(&css),
            js,
            css,
        }
    }
}

impl Default for SriResources {
    fn default() -> Self {
        Self::new()
    }
}

/// The external scripts of the host and nonce pages: `one`, `two` set
/// their marker, `fetch` fetches `https://host/security/data.json`.
pub fn script(name: &str, host: &str) -> Option<String> {
    let mark = |m: &str| format!("(window.__marks = window.__marks || []).push('{m}');\n");
    match name {
        "one.js" | "two.js" => Some(mark(name.trim_end_matches(".js"))),
        "fetch.js" => Some(format!(
            "fetch('https://{host}/security/data.json')\n\
             .then(function (r) {{ return r.json(); }})\n\
             .then(function (d) {{ (window.__marks = window.__marks || []).push('fetch:' + d.ok); }})\n\
             .catch(function (e) {{ (window.__marks = window.__marks || []).push('fetch-failed'); }});\n"
        )),
        _ => None,
    }
}

/// A small SVG image (`a.svg`, `b.svg`).
pub fn image(name: &str) -> Option<String> {
    let fill = match name {
        "a.svg" => "#c33",
        "b.svg" => "#33c",
        _ => return None,
    };
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\">\
         <rect width=\"16\" height=\"16\" fill=\"{fill}\"/></svg>\n"
    ))
}
