//! HTML rewriting with lol_html as a streaming tokenizer only.
//!
//! Why not let lol_html rewrite attributes: `Element::set_attribute` always
//! re-serializes `name="value"` with double quotes, which changes
//! single-quoted and unquoted attributes and breaks the byte-exact round
//! trip (origin host swapped back gives the input) on real pages. Instead:
//!
//! 1. lol_html runs with one `*` element handler that mutates nothing, so
//!    its output equals its input and its sink only tells us how far the
//!    source has been emitted ([`source::Source::on_output`] verifies it).
//! 2. The handler reads the raw start tag from our own window by its source
//!    range. If it holds a URL of a rewrite host, the whole tag is
//!    rewritten with the shared matcher and queued as one
//!    `(range, replacement)` edit (see `attrs` for why that is the same as
//!    rewriting every attribute value, and why it is cheaper). For
//!    `<script>`/`<style>` it queues the start of a raw-text region and,
//!    from an end-tag handler, its end.
//! 3. After each `write`, the bytes lol_html emitted are copied on with the
//!    edits applied; region bytes stream through a [`StreamReplacer`].
//!
//! Comments are rewritten whole, as one edit: IE conditional comments
//! (`<!--[if lt IE 9]><script src=...>`) carry real markup, and a comment
//! is complete before lol_html hands it over. `<noscript>` is raw text to a
//! scripting parser but markup for the browsers that render it, so it is a
//! raw-text region like `<script>`. Plain text nodes are never rewritten (a
//! URL in prose is not a link). `<script>`/`<style>` inside SVG/MathML are
//! parsed as markup by HTML, so their text is not treated as a raw-text
//! region either.

mod attrs;
mod source;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{Comment, Element, EndTag};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, OutputSink, Selector, Settings,
};

use self::source::{Event, Source};
use crate::error::PipelineError;
use crate::limits::Limits;
use crate::rewrite::charset::{self, HtmlCharset};
use crate::rewrite::rules::RewriteRules;
use crate::rewrite::{ByteSink, StreamReplacer};

/// Our handlers abort lol_html with this; the real error is in
/// [`Source::fault`].
#[derive(Debug)]
struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sluice handler aborted")
    }
}

impl std::error::Error for Abort {}

/// lol_html's output sink: records progress in the shared [`Source`].
struct Sink {
    src: Rc<RefCell<Source>>,
    /// Set if the source was unexpectedly borrowed when lol_html emitted.
    fault: Rc<Cell<bool>>,
}

impl OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        match self.src.try_borrow_mut() {
            Ok(mut s) => s.on_output(chunk),
            Err(_) => self.fault.set(true),
        }
    }
}

/// The HTML processor of one body.
pub(crate) struct HtmlStage {
    /// `None` once finished or after an error (lol_html panics if used
    /// after an error, so it is dropped instead).
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    src: Rc<RefCell<Source>>,
    sink_fault: Rc<Cell<bool>>,
    /// Absolute position up to which output has been produced.
    processed: u64,
    /// Replacer for `<script>`/`<style>` raw text, reused per region.
    region: StreamReplacer,
    in_region: bool,
    html_memory: usize,
    window_cap: usize,
}

impl std::fmt::Debug for HtmlStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtmlStage")
            .field("processed", &self.processed)
            .field("in_region", &self.in_region)
            .finish_non_exhaustive()
    }
}

impl HtmlStage {
    pub(crate) fn new(
        rules: RewriteRules,
        encoding: AsciiCompatibleEncoding,
        adjust_on_meta: bool,
        limits: &Limits,
    ) -> Result<Self, PipelineError> {
        let src = Rc::new(RefCell::new(Source::default()));
        let sink_fault = Rc::new(Cell::new(false));
        let selector: Selector = "*"
            .parse()
            .map_err(|_| PipelineError::internal("the '*' selector did not parse"))?;
        let handler_src = Rc::clone(&src);
        let handler_rules = rules.clone();
        let handlers = ElementContentHandlers::default().element(
            move |el: &mut Element<'_, '_>| -> HandlerResult {
                on_element(&handler_src, &handler_rules, el).map_err(|e| abort(&handler_src, e))
            },
        );
        let comment_src = Rc::clone(&src);
        let comment_rules = rules.clone();
        let comments = DocumentContentHandlers::default().comments(
            move |c: &mut Comment<'_>| -> HandlerResult {
                on_comment(&comment_src, &comment_rules, c).map_err(|e| abort(&comment_src, e))
            },
        );
        let settings = parser_settings(encoding, adjust_on_meta, limits)
            .append_element_content_handler((Cow::Owned(selector), handlers))
            .append_document_content_handler(comments);
        let sink = Sink {
            src: Rc::clone(&src),
            fault: Rc::clone(&sink_fault),
        };
        Ok(Self {
            rewriter: Some(HtmlRewriter::new(settings, sink)),
            src,
            sink_fault,
            processed: 0,
            region: StreamReplacer::new(rules),
            in_region: false,
            html_memory: limits.html_memory,
            window_cap: limits.html_memory.saturating_add(limits.max_pending),
        })
    }

    /// URLs rewritten so far (attributes and raw-text regions).
    pub(crate) fn rewritten(&self) -> u64 {
        let attrs = self.src.try_borrow().map_or(0, |s| s.rewritten);
        attrs + self.region.rewritten()
    }

    pub(crate) fn push(
        &mut self,
        piece: &[u8],
        out: &mut impl ByteSink,
    ) -> Result<(), PipelineError> {
        let Some(rewriter) = self.rewriter.as_mut() else {
            return Err(PipelineError::Poisoned);
        };
        {
            let mut s = borrow(&self.src)?;
            if s.window.len().saturating_add(piece.len()) > self.window_cap {
                self.rewriter = None;
                return Err(PipelineError::LimitExceeded {
                    what: "HTML source window",
                    limit: self.window_cap,
                });
            }
            let need = s.window.len() + piece.len();
            if need > s.window.capacity() {
                // Grow geometrically but never past the cap: a plain
                // doubling `Vec` would reserve up to twice the cap for one
                // unterminated tag, on top of lol_html's own copy of it.
                let target = need
                    .max(s.window.capacity().saturating_mul(2))
                    .min(self.window_cap);
                let len = s.window.len();
                s.window.reserve_exact(target - len);
            }
            s.window.extend_from_slice(piece);
            s.window_changed();
        }
        let result = rewriter.write(piece);
        self.check(result)?;
        self.emit(out)
    }

    pub(crate) fn finish(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        let Some(rewriter) = self.rewriter.take() else {
            return Err(PipelineError::Poisoned);
        };
        let result = rewriter.end();
        self.check(result)?;
        self.emit(out)?;
        {
            let s = borrow(&self.src)?;
            if !s.window.is_empty() || !s.events.is_empty() {
                return Err(PipelineError::internal(
                    "lol_html ended without emitting all of its input",
                ));
            }
        }
        if self.in_region {
            self.in_region = false;
            self.region.finish(out)?;
        }
        Ok(())
    }

    /// Turns lol_html's result (and any fault our handlers or sink
    /// recorded) into ours; any error drops the poisoned rewriter.
    fn check(&mut self, result: Result<(), RewritingError>) -> Result<(), PipelineError> {
        let fault = borrow(&self.src)?.fault.take();
        let err = if self.sink_fault.get() {
            Some(PipelineError::internal(
                "HTML source window borrowed during output",
            ))
        } else if let Some(f) = fault {
            Some(f)
        } else {
            result.err().map(|e| match e {
                RewritingError::MemoryLimitExceeded(_) => PipelineError::HtmlMemoryLimit {
                    limit: self.html_memory,
                },
                other => PipelineError::Html {
                    detail: other.to_string(),
                },
            })
        };
        match err {
            None => Ok(()),
            Some(e) => {
                self.rewriter = None;
                Err(e)
            }
        }
    }

    /// Copies what lol_html has emitted on, applying queued events.
    fn emit(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        let Self {
            src,
            processed,
            region,
            in_region,
            ..
        } = self;
        let mut s = borrow(src)?;
        let target = s.lol_out;
        loop {
            let next = s.events.front().map(Event::start);
            let stop = match next {
                Some(p) if p <= target => p,
                _ => target,
            };
            if stop < *processed {
                return Err(PipelineError::internal(
                    "an HTML edit points behind the output",
                ));
            }
            if stop > *processed {
                let bytes = s.range(*processed, stop).ok_or_else(|| {
                    PipelineError::internal("HTML output outside the source window")
                })?;
                if *in_region {
                    region.push(bytes, out)?;
                } else {
                    out.put(bytes)?;
                }
                *processed = stop;
            }
            match s.events.front() {
                Some(ev) if ev.start() <= target => {
                    if let Event::Edit { end, .. } = ev {
                        if *end > target {
                            // The rest of this tag has not been emitted yet.
                            break;
                        }
                    }
                }
                _ => break,
            }
            match s.events.pop_front() {
                Some(Event::Edit { end, bytes, .. }) => {
                    if *in_region {
                        return Err(PipelineError::internal("an attribute edit inside raw text"));
                    }
                    out.put(&bytes)?;
                    *processed = end;
                }
                Some(Event::RegionStart(_)) if !*in_region => *in_region = true,
                Some(Event::RegionEnd(_)) if *in_region => {
                    *in_region = false;
                    region.finish(out)?;
                }
                _ => return Err(PipelineError::internal("unbalanced raw-text regions")),
            }
        }
        let done = usize::try_from(*processed - s.base)
            .map_err(|_| PipelineError::internal("HTML window offset overflow"))?;
        if done > s.window.len() {
            return Err(PipelineError::internal(
                "HTML output past the source window",
            ));
        }
        s.window.drain(..done);
        s.base = *processed;
        s.window_changed();
        Ok(())
    }
}

/// The lol_html settings of an HTML body apart from our handlers, shared
/// by [`HtmlStage::new`] and [`lol_html_floor`] so the floor cannot drift
/// from what the stage asks of the parser.
fn parser_settings<'h>(
    encoding: AsciiCompatibleEncoding,
    adjust_on_meta: bool,
    limits: &Limits,
) -> Settings<'h, 'static> {
    Settings::new()
        .with_encoding(encoding)
        // With no charset in `Content-Type`, lol_html watches `<meta>` tags
        // for one (its own `meta` selector and handler).
        .with_adjust_charset_on_meta_tag(adjust_on_meta)
        // Non-conforming markup that lol_html cannot parse with certainty
        // only decides whether a URL in it is rewritten; it must not fail
        // the page.
        .with_strict(false)
        .with_memory_settings(
            MemorySettings::new().with_max_allowed_memory_usage(limits.html_memory),
        )
}

/// lol_html alone, with exactly the parser settings and selectors
/// [`HtmlStage::new`] gives it for a body with this `Content-Type`
/// `charset` (`*` elements, document comments, the encoding and the
/// `<meta>` charset watch, non-strict, the memory cap) and handlers that
/// do nothing: the parser's cost floor the benchmarks compare the HTML
/// rewrite against. It lives here, beside the real settings, so the two
/// cannot drift apart. Feeds `body` in `chunk`-byte writes and returns the
/// bytes lol_html emitted (a charset lol_html cannot tokenize is passed
/// through by the stage, so the floor is a count of the body).
#[doc(hidden)]
pub fn lol_html_floor(
    body: &[u8],
    chunk: usize,
    charset: Option<&str>,
    limits: &Limits,
) -> Result<u64, RewritingError> {
    let HtmlCharset::Tokenize {
        encoding,
        adjust_on_meta,
    } = charset::resolve(charset)
    else {
        return Ok(body.len() as u64);
    };
    let mut emitted = 0u64;
    let settings = parser_settings(encoding, adjust_on_meta, limits)
        .append_element_content_handler(lol_html::element!("*", |_el| Ok(())))
        .append_document_content_handler(lol_html::doc_comments!(|_c| Ok(())));
    let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| emitted += c.len() as u64);
    for piece in body.chunks(chunk.max(1)) {
        rewriter.write(piece)?;
    }
    rewriter.end()?;
    Ok(emitted)
}

fn borrow(src: &Rc<RefCell<Source>>) -> Result<std::cell::RefMut<'_, Source>, PipelineError> {
    src.try_borrow_mut()
        .map_err(|_| PipelineError::internal("HTML source window borrowed twice"))
}

/// Records `e` as the fault and returns the error that makes lol_html stop.
fn abort(src: &Rc<RefCell<Source>>, e: PipelineError) -> Box<dyn std::error::Error + Send + Sync> {
    if let Ok(mut s) = src.try_borrow_mut() {
        s.fault.get_or_insert(e);
    }
    Box::new(Abort)
}

/// The comment handler: a comment whose bytes hold a rewrite-host URL
/// becomes one edit (lol_html hands over complete comments only).
fn on_comment(
    src: &Rc<RefCell<Source>>,
    rules: &RewriteRules,
    comment: &mut Comment<'_>,
) -> Result<(), PipelineError> {
    let range = comment.source_location().bytes();
    let mut s = borrow(src)?;
    let raw = s
        .slice(range.clone())
        .ok_or_else(|| PipelineError::internal("comment outside the source window"))?;
    if let Some((bytes, count)) = rules.rewrite_complete(raw) {
        let start = s.abs(range.start);
        let end = start + range.len() as u64;
        s.push_event(Event::Edit { start, end, bytes })?;
        s.rewritten += count;
    }
    Ok(())
}

/// The `*` element handler: queues attribute edits and raw-text regions.
fn on_element(
    src: &Rc<RefCell<Source>>,
    rules: &RewriteRules,
    el: &mut Element<'_, '_>,
) -> Result<(), PipelineError> {
    let tag = el.source_location().bytes();
    let mut s = borrow(src)?;
    let (raw_text, edit) = {
        let local = s
            .local(tag.clone())
            .ok_or_else(|| PipelineError::internal("start tag outside the source window"))?;
        let Source {
            window, markers, ..
        } = &mut *s;
        let bytes = window
            .get(local.clone())
            .ok_or_else(|| PipelineError::internal("start tag outside the source window"))?;
        let raw_text = attrs::is_raw_text_tag(bytes) && el.namespace_uri() == attrs::HTML_NAMESPACE;
        // One edit for the whole start tag, without asking lol_html for
        // its attributes (see `attrs`). The marker cursor shared by all the
        // tags of this write rejects the many tags without a URL of ours
        // before the matcher runs.
        let edit = if rules.may_match_within(markers, window, local.start, local.end) {
            rules.rewrite_complete(bytes)
        } else {
            None
        };
        (raw_text, edit)
    };
    if let Some((bytes, count)) = edit {
        let start = s.abs(tag.start);
        let end = start + tag.len() as u64;
        s.push_event(Event::Edit { start, end, bytes })?;
        s.rewritten += count;
    }
    if raw_text {
        let start = s.abs(tag.end);
        s.push_event(Event::RegionStart(start))?;
        drop(s);
        match el.end_tag_handlers() {
            Some(handlers) => {
                let end_src = Rc::clone(src);
                handlers.push(Box::new(move |end: &mut EndTag<'_>| -> HandlerResult {
                    let at = end.source_location().bytes().start;
                    let pushed = borrow(&end_src).and_then(|mut s| {
                        let pos = s.abs(at);
                        s.push_event(Event::RegionEnd(pos))
                    });
                    pushed.map_err(|e| abort(&end_src, e))
                }));
            }
            // Cannot have content after all: the region is empty.
            None => borrow(src)?.push_event(Event::RegionEnd(start))?,
        }
    }
    Ok(())
}
