//! Issue: the page's own security survives the rewrite, proven in Chromium.
//!
//! Debian's headless chromium (driven by `tests/peers/security.mjs`)
//! loads sluice-origin's `/security/*` pages through the edge and reports
//! every `securitypolicyviolation` event, console error, script marker and
//! response body hash. A page that works at the origin must work through
//! the edge with its protections intact:
//! - a policy listing the origin host (`script-src`, `img-src`,
//!   `connect-src`): every script runs, every image loads, the fetch
//!   succeeds, no violation;
//! - a policy with hash sources for inline scripts the rewrite changes: all
//!   run (the edge added their new hashes); over the buffering cap the page
//!   still streams and the access line says `"csp":"incomplete"`;
//! - a nonce policy: nothing to do, nothing breaks;
//! - Subresource Integrity: the pinned script and stylesheet load through
//!   the edge byte-identical to the origin;
//! - the corpus pages with a policy `<meta>` or `integrity=` show no CSP or
//!   SRI error through the edge that they do not show from the origin.
// Test and benchmark code: a failed unwrap or expect stops it, as it should.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_e2e::http::get;
use sluice_e2e::{corpus_listing, workspace, EdgeConfig, Stack};

/// Runs the driver on `url`, waiting for `marks` script markers.
fn drive(url: &str, marks: usize) -> Value {
    let peers = workspace().join("tests/peers");
    assert!(
        peers.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/ensure-tools"
    );
    let out = Command::new("node")
        .arg(peers.join("security.mjs"))
        .arg(url)
        .arg(marks.to_string())
        .current_dir(&peers)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "chromium run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line from security.mjs")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The markers, sorted.
fn marks(got: &Value) -> Vec<String> {
    let mut m = strings(&got["marks"]);
    m.sort();
    m
}

/// No violation event and no error of any kind.
fn assert_clean(got: &Value, label: &str) {
    assert_eq!(
        got["violations"],
        Value::Array(vec![]),
        "{label}: violations"
    );
    assert_eq!(
        got["console_errors"],
        Value::Array(vec![]),
        "{label}: console"
    );
    assert_eq!(
        got["page_errors"],
        Value::Array(vec![]),
        "{label}: exceptions"
    );
}

/// The access record of the request for `path` (waits for it).
fn access_record(stack: &Stack, path: &str) -> Value {
    for _ in 0..100 {
        let found = stack
            .edge
            .access_records()
            .into_iter()
            .find(|r| r["path"] == path);
        if let Some(r) = found {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "no access record for {path}: {:?}",
        stack.edge.access_records()
    );
}

#[test]
fn host_sources_allow_the_edge() {
    let stack = Stack::start();
    let got = drive(&stack.edge.url("/security/csp-hosts"), 3);
    assert_eq!(got["origin"], format!("http://{}", stack.edge.addr));
    assert_eq!(marks(&got), ["fetch:true", "one", "two"], "{got}");
    let images = got["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    for img in images {
        assert_eq!(img["complete"], true, "{img}");
        assert_eq!(img["naturalWidth"], 16, "{img}");
    }
    assert_clean(&got, "csp-hosts");
    // The header kept the origin and gained the edge.
    let resp = get(&stack.edge.url("/security/csp-hosts"), &[]);
    let csp = resp.header("content-security-policy").expect("policy");
    let edge = format!("http://{}", stack.edge.addr);
    assert!(
        csp.starts_with(&format!("script-src https://origin.example {edge};")),
        "{csp}"
    );
}

#[test]
fn hash_sources_of_rewritten_inline_scripts_are_added() {
    let stack = Stack::start();
    let got = drive(&stack.edge.url("/security/csp-hashes"), 3);
    assert_eq!(marks(&got), ["inline-a", "inline-b", "inline-c"], "{got}");
    assert_clean(&got, "csp-hashes");
    // The URLs in the scripts were rewritten (that is why hashes were
    // needed), and the policy was completed.
    let resp = get(&stack.edge.url("/security/csp-hashes"), &[]);
    let body = resp.text();
    assert!(!body.contains("origin.example"), "{body}");
    assert_eq!(
        access_record(&stack, "/security/csp-hashes")["csp"],
        "complete"
    );
    let csp = resp.header("content-security-policy").expect("policy");
    assert_eq!(csp.matches("'sha256-").count(), 4, "{csp}");
    assert_eq!(csp.matches("'sha384-").count(), 2, "{csp}");
    assert_eq!(csp.matches("'sha512-").count(), 1, "{csp}");
}

#[test]
fn over_the_cap_the_page_streams_and_the_policy_is_logged_incomplete() {
    let stack = Stack::start_with(|c: EdgeConfig| c.set("publisher.buffer_max_bytes", "2048"));
    let origin = get(&stack.origin.url("/security/csp-hashes"), &[]);
    assert!(origin.body.len() > 8000);
    let resp = get(&stack.edge.url("/security/csp-hashes"), &[]);
    assert_eq!(resp.status, 200);
    // The whole page arrived, rewritten, with the origin's policy as it was.
    let body = resp.text();
    assert!(
        body.ends_with("</body></html>\n"),
        "the page streamed to its end"
    );
    assert_eq!(
        resp.body,
        rewritten(&origin.body, &stack),
        "the plain rewrite"
    );
    assert_eq!(
        resp.header("content-security-policy"),
        origin.header("content-security-policy")
    );
    assert_eq!(
        access_record(&stack, "/security/csp-hashes")["csp"],
        "incomplete"
    );
    // In the browser exactly the two rewritten scripts are blocked.
    let got = drive(&stack.edge.url("/security/csp-hashes"), 1);
    assert_eq!(marks(&got), ["inline-c"], "{got}");
    let blocked: Vec<&Value> = got["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .collect();
    assert_eq!(blocked.len(), 2, "{got}");
    for v in blocked {
        assert_eq!(v["effectiveDirective"], "script-src-elem", "{v}");
        assert_eq!(v["blockedURI"], "inline", "{v}");
    }
}

#[test]
fn nonce_policies_need_nothing() {
    let stack = Stack::start();
    let got = drive(&stack.edge.url("/security/csp-nonce"), 3);
    assert_eq!(marks(&got), ["nonce-a", "nonce-b", "one"], "{got}");
    assert_clean(&got, "csp-nonce");
    let nonce = sluice_origin::content::security::NONCE;
    let body = get(&stack.edge.url("/security/csp-nonce"), &[]).text();
    for quoted in [
        format!("nonce=\"{nonce}\""),
        format!("nonce='{nonce}'"),
        format!("nonce={nonce} "),
    ] {
        assert_eq!(body.matches(&quoted).count(), 1, "{quoted}");
    }
}

#[test]
fn sri_pinned_resources_arrive_byte_identical() {
    let stack = Stack::start();
    let got = drive(&stack.edge.url("/security/sri"), 1);
    assert_eq!(marks(&got), ["sri-js"], "{got}");
    assert_eq!(got["sri_color"], "rgb(1, 2, 3)", "the stylesheet applied");
    assert_clean(&got, "sri");
    let origin_html = get(&stack.origin.url("/security/sri"), &[]).text();
    let edge_html = get(&stack.edge.url("/security/sri"), &[]).text();
    let attrs = |html: &str, name: &str| -> Vec<String> {
        html.match_indices(&format!(" {name}=\""))
            .map(|(at, m)| {
                let v = &html[at + m.len()..];
                v[..v.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    for name in ["integrity", "crossorigin"] {
        assert_eq!(attrs(&edge_html, name), attrs(&origin_html, name), "{name}");
    }
    // The browser received exactly the origin's bytes, through the edge.
    let edge = format!("http://{}", stack.edge.addr);
    for path in ["/security/sri/app.js", "/security/sri/site.css"] {
        let want = hex(&Sha256::digest(get(&stack.origin.url(path), &[]).body));
        let url = format!("{edge}/_sluice-raw{path}");
        let seen = got["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .find(|r| r["url"] == url.as_str())
            .unwrap_or_else(|| panic!("the browser never fetched {url}: {got}"));
        assert_eq!(seen["status"], 200, "{seen}");
        assert_eq!(seen["sha256"], want.as_str(), "{path}");
    }
}

/// The page as the core rewrites it for this edge (identity, one chunk).
fn rewritten(page: &[u8], stack: &Stack) -> Vec<u8> {
    use sluice_core::{ContentEncoding, ContentKind, Pipeline, PipelineConfig, RewriteRules};
    let rules =
        RewriteRules::new(["origin.example"], "http", &stack.edge.addr.to_string()).expect("rules");
    let config = PipelineConfig::new(
        ContentEncoding::Identity,
        ContentEncoding::Identity,
        ContentKind::Html,
        rules,
    );
    let mut p = Pipeline::new(config, Vec::new()).expect("pipeline");
    p.write_chunk(page).expect("rewrite");
    p.finish().expect("rewrite")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a violation is about, comparable between an origin and an edge
/// load: the directive, the disposition, and what was blocked (`inline`,
/// `eval`, or a URL's path, without the raw prefix).
fn violation_keys(got: &Value) -> BTreeSet<String> {
    got["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            let blocked = v["blockedURI"].as_str().unwrap_or("");
            let what = match blocked.split_once("://") {
                Some((_, rest)) => {
                    let path = rest.find('/').map_or("/", |k| &rest[k..]);
                    path.strip_prefix("/_sluice-raw").unwrap_or(path).to_owned()
                }
                None => blocked.to_owned(),
            };
            format!(
                "{} {} {what}",
                v["effectiveDirective"].as_str().unwrap_or(""),
                v["disposition"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// SRI failures in the console, by the path of the resource.
fn sri_errors(got: &Value) -> BTreeSet<String> {
    strings(&got["console_errors"])
        .into_iter()
        .filter(|m| m.contains("integrity"))
        .map(|m| {
            let url = m.split('\'').find(|s| s.contains("://")).unwrap_or("");
            let rest = url.split_once("://").map_or("", |(_, r)| r);
            let path = rest.find('/').map_or("/", |k| &rest[k..]);
            path.strip_prefix("/_sluice-raw").unwrap_or(path).to_owned()
        })
        .collect()
}

#[test]
fn corpus_pages_show_no_new_csp_or_sri_errors() {
    let pages = [
        "folha.html",
        "gitlab-blog.html",
        "toc-missing.html",
        "article-author-tag.html",
        "medicalnewstoday.html",
        "videos-1.html",
    ];
    let listing = corpus_listing();
    let hosts: Vec<String> = pages
        .iter()
        .map(|name| {
            listing
                .iter()
                .find(|p| p.name == *name)
                .and_then(|p| p.host.clone())
                .unwrap_or_else(|| panic!("{name} has an origin host in pages.tsv"))
        })
        .collect();
    let stack =
        Stack::start_with(|c: EdgeConfig| c.set("publisher.rewrite_hosts", &hosts.join(",")));
    for name in pages {
        let path = format!("/pages/{name}");
        let at_origin = drive(&stack.origin.url(&path), 0);
        let at_edge = drive(&stack.edge.url(&path), 0);
        let new_violations: Vec<String> = violation_keys(&at_edge)
            .difference(&violation_keys(&at_origin))
            .cloned()
            .collect();
        assert!(
            new_violations.is_empty(),
            "{name}: CSP violations only through the edge: {new_violations:?}"
        );
        let new_sri: Vec<String> = sri_errors(&at_edge)
            .difference(&sri_errors(&at_origin))
            .cloned()
            .collect();
        assert!(
            new_sri.is_empty(),
            "{name}: SRI errors only through the edge: {new_sri:?}"
        );
    }
}
