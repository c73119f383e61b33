//! `/security/*`: the pages with their own CSP and SRI that the browser
//! tests load through the edge. Checked against the served bytes: every
//! hash and integrity value is recomputed here from what the origin sent.
// Test code: a failed unwrap or expect fails the test, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use http::{Method, StatusCode};
use sha2::{Digest, Sha256, Sha384, Sha512};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The text of every `<script>` without `src` (the pages write no `<`
/// inside scripts).
fn inline_scripts(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<script") {
        let open_end = at + rest[at..].find('>').unwrap() + 1;
        let close = open_end + rest[open_end..].find("</script>").unwrap();
        if !rest[at..open_end].contains("src=") {
            out.push(rest[open_end..close].to_owned());
        }
        rest = &rest[close..];
    }
    out
}

/// `name="value"` attribute values of `attr` in document order.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let v = &html[at + needle.len()..];
            &v[..v.find('"').unwrap()]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_page_lists_its_host_and_everything_it_loads_is_served() {
    let s = start().await;
    let r = get(s.addr(), "/security/csp-hosts").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap().to_owned();
    for directive in ["script-src", "img-src", "connect-src"] {
        assert!(
            csp.contains(&format!("{directive} https://origin.example")),
            "{csp}"
        );
    }
    let html = r.text();
    let urls: Vec<&str> = attr_values(&html, "src");
    assert_eq!(urls.len(), 5, "{html}");
    for url in urls {
        assert!(url.starts_with("https://origin.example/") || url.starts_with("//origin.example/"));
        let path = &url[url.find("/security/").unwrap()..];
        let res = get(s.addr(), path).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let ct = res.header("content-type").unwrap();
        assert!(
            ct == "application/javascript" || ct == "image/svg+xml",
            "{path}: {ct}"
        );
    }
    let fetch = get(s.addr(), "/security/js/fetch.js").await.text();
    assert!(fetch.contains("fetch('https://origin.example/security/data.json')"));
    assert_eq!(
        get(s.addr(), "/security/data.json").await.json()["ok"],
        true
    );
    // ?host= moves every URL and the policy.
    let r = get(s.addr(), "/security/csp-hosts?host=pub.example").await;
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("script-src https://pub.example"));
    assert!(!r.text().contains("origin.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_page_allows_exactly_its_three_inline_scripts() {
    let s = start().await;
    for (path, host) in [
        ("/security/csp-hashes", "origin.example"),
        (
            "/security/csp-hashes?host=pub.example&pad=40000",
            "pub.example",
        ),
    ] {
        let r = get(s.addr(), path).await;
        let csp = r.header("content-security-policy").unwrap().to_owned();
        let html = r.text();
        let scripts = inline_scripts(&html);
        assert_eq!(scripts.len(), 3);
        let [a, b, c] = [&scripts[0], &scripts[1], &scripts[2]];
        // Two name the host: one plainly, one JSON-escaped; all mark.
        assert!(a.contains(&format!("'https://{host}/security/a'")));
        assert!(b.contains(&format!("https:\\/\\/{host}\\/security\\/b")));
        assert!(!c.contains(host));
        for (i, s) in scripts.iter().enumerate() {
            assert!(s.contains(&format!("push('inline-{}')", ['a', 'b', 'c'][i])));
        }
        let src = |alg: &str, d: Vec<u8>| format!("'{alg}-{}'", b64(&d));
        assert_eq!(
            csp,
            format!(
                "script-src {} {} {} {}; object-src 'none'",
                src("sha256", Sha256::digest(a.as_bytes()).to_vec()),
                src("sha384", Sha384::digest(b.as_bytes()).to_vec()),
                src("sha256", Sha256::digest(b.as_bytes()).to_vec()),
                src("sha512", Sha512::digest(c.as_bytes()).to_vec()),
            )
        );
        assert!(sluice_core::http::csp::needs_hashes(&csp));
    }
    let small = get(s.addr(), "/security/csp-hashes").await.body.len();
    let big = get(s.addr(), "/security/csp-hashes?pad=40000")
        .await
        .body
        .len();
    assert!((8 << 10..(8 << 10) + 200).contains(&small), "{small}");
    assert!((40000..40200).contains(&big), "{big}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nonce_page_puts_its_nonce_on_every_script() {
    let s = start().await;
    let r = get(s.addr(), "/security/csp-nonce").await;
    let nonce = sluice_origin::content::security::NONCE;
    assert_eq!(
        r.header("content-security-policy"),
        Some(format!("script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'").as_str())
    );
    let html = r.text();
    assert_eq!(html.matches("<script").count(), 3);
    for quoted in [
        format!("nonce=\"{nonce}\""),
        format!("nonce='{nonce}'"),
        format!("nonce={nonce} "),
    ] {
        assert_eq!(html.matches(&quoted).count(), 1, "{quoted}");
    }
    assert!(html.contains("https://origin.example/security/js/one.js"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sri_integrity_is_the_hash_of_the_served_bytes() {
    let s = start().await;
    let html = get(s.addr(), "/security/sri").await.text();
    let integrity = attr_values(&html, "integrity");
    assert_eq!(
        attr_values(&html, "crossorigin"),
        ["anonymous", "anonymous"]
    );
    let resources = [
        ("/security/sri/site.css", "text/css", integrity[0]),
        (
            "/security/sri/app.js",
            "application/javascript",
            integrity[1],
        ),
    ];
    for (path, ct, pinned) in resources {
        assert!(html.contains(&format!("https://origin.example{path}")));
        let r = get(s.addr(), path).await;
        assert_eq!(r.header("content-type"), Some(ct));
        assert_eq!(
            pinned,
            format!("sha384-{}", b64(&Sha384::digest(&r.body))),
            "{path}"
        );
        // The body names the rewrite host, so a rewrite would break it.
        assert!(r.text().contains("//origin.example/"), "{path}");
    }
    assert!(get(s.addr(), "/security/sri/app.js")
        .await
        .text()
        .contains("https:\\/\\/origin.example\\/"));
    assert!(get(s.addr(), "/security/sri/site.css")
        .await
        .text()
        .contains("rgb(1, 2, 3)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resources_and_methods() {
    let s = start().await;
    for path in [
        "/security",
        "/security/nope",
        "/security/js/x.js",
        "/security/img/c.svg",
    ] {
        assert_eq!(
            get(s.addr(), path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r = request(Method::POST, s.addr(), "/security/sri", &[], "x").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let head = request(Method::HEAD, s.addr(), "/security/csp-nonce", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert!(head.header("content-security-policy").is_some());
    assert_eq!(
        get(s.addr(), "/security/csp-hashes?pad=x").await.status,
        StatusCode::BAD_REQUEST
    );
}
