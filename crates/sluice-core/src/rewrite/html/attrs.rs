//! Which elements of an HTML document hold raw text, and why start tags are
//! rewritten whole.
//!
//! Every attribute value is rewritten, not a list of "URL attributes": any
//! list misses one (lazy-loading `data-*` attributes, `content` of
//! `og:url`, escaped markup such as `data-img="&lt;img src=&quot;...`), and
//! a missed attribute leaks an origin URL. Rewriting all of them is safe
//! because the matcher only ever changes `//host` URLs of a rewrite host.
//!
//! The stage goes one step further and runs the matcher over the whole raw
//! start tag as one edit. The two are the same: attribute values are
//! delimited by quotes, `=` or whitespace, which can neither extend a host
//! nor form part of a scheme, so a match inside a value is a match of the
//! tag and the reverse holds for everything but URL-shaped attribute
//! *names* in malformed markup (`<a //origin.example>`), which browsers
//! ignore and which are rewritten too. Skipping lol_html's attribute list
//! saves its per-tag attribute parsing: about 5% of the HTML rewrite on
//! the corpus (docs/BENCHMARKS.md).

/// The elements whose content is raw text (no markup, no entities) that
/// is streamed through the byte replacer, when they are in the HTML
/// namespace ([`HTML_NAMESPACE`]).
pub(super) const RAW_TEXT_SELECTOR: &str = "script, style, noscript";

/// The HTML namespace, as lol_html reports it.
pub(super) const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";
