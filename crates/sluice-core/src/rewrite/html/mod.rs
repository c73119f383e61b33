//! HTML rewriting with lol_html as a streaming tokenizer only.
//!
//! Why not let lol_html rewrite attributes: `Element::set_attribute` always
//! re-serializes `name="value"` with double quotes, which changes
//! single-quoted and unquoted attributes and breaks the byte-exact round
//! trip (origin host swapped back gives the input) on real pages. Instead:
//!
//! 1. lol_html runs with handlers that mutate nothing, so its output equals
//!    its input and its sink only tells us how far the input has been
//!    emitted (debug builds check every byte).
//! 2. During `write`, a `*` element handler and a comment handler record
//!    where each start tag and comment lies, and a handler for
//!    `script, style, noscript` records where a raw-text region starts and
//!    (from an end-tag handler) where it ends. Handlers record positions
//!    only: lol_html lends them no bytes, and the chunk it is given is
//!    borrowed for the call alone, so reading tags in the handlers would
//!    mean copying every chunk into a window first (3-5% of the rewrite).
//! 3. After `write`, the stage reads each recorded tag where it lies (the
//!    chunk itself, or the few bytes held back from the last write). A tag
//!    or comment holding a URL of a rewrite host is rewritten whole with the
//!    shared matcher into one `(range, replacement)` edit (see `attrs` for
//!    why that is the same as rewriting every attribute value, and why it
//!    is cheaper).
//! 4. The bytes lol_html emitted are then copied on with the edits applied;
//!    region bytes stream through a [`StreamReplacer`]. Only what lol_html
//!    has not emitted yet (a token cut by the chunk boundary) is kept.
//!
//! Two kinds of start tag get a different edit than the plain rewrite
//! (see `policy`): a `<meta http-equiv="Content-Security-Policy">` has the
//! edge *appended* to its policy (a rewrite would remove the origin from
//! it), and a tag carrying `integrity` has its URLs rewritten into the
//! raw form, which the edge serves byte-identical to the origin.
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
mod policy;
mod source;

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{Comment, Element, EndTag};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, OutputSink, Selector, Settings,
};

use self::source::{Event, Input, Item, Queue, Shared};
use crate::error::PipelineError;
use crate::limits::PipelineLimits;
use crate::rewrite::charset::{self, HtmlCharset};
use crate::rewrite::rules::{Markers, RewriteRules};
use crate::rewrite::{ByteSink, StreamReplacer};

/// Our handlers abort lol_html with this; the real error is in
/// [`Shared::fault`].
#[derive(Debug)]
struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sluice handler aborted")
    }
}

impl std::error::Error for Abort {}

/// lol_html's output sink: advances the emitted position.
struct Sink {
    shared: Rc<RefCell<Shared>>,
    /// Set if the shared state was unexpectedly borrowed when lol_html
    /// emitted.
    fault: Rc<std::cell::Cell<bool>>,
}

impl OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        match self.shared.try_borrow_mut() {
            Ok(mut s) => {
                s.lol_out += chunk.len() as u64;
                if cfg!(debug_assertions) {
                    s.echo.extend_from_slice(chunk);
                }
            }
            Err(_) => self.fault.set(true),
        }
    }
}

/// The HTML processor of one body.
pub(crate) struct HtmlStage {
    /// `None` once finished or after an error (lol_html panics if used
    /// after an error, so it is dropped instead).
    rewriter: Option<HtmlRewriter<'static, Sink>>,
    shared: Rc<RefCell<Shared>>,
    sink_fault: Rc<std::cell::Cell<bool>>,
    rules: RewriteRules,
    /// Input lol_html has been given but not emitted yet, from
    /// [`Shared::base`].
    held: Vec<u8>,
    /// Edits and region bounds not applied yet.
    queue: Queue,
    /// The handlers' items of the current write (kept to reuse its
    /// allocation).
    items: Vec<Item>,
    /// Joins a tag cut by a chunk boundary.
    scratch: Vec<u8>,
    /// Absolute position up to which output has been produced.
    processed: u64,
    /// Replacer for `<script>`/`<style>` raw text, reused per region.
    region: StreamReplacer,
    in_region: bool,
    /// URLs rewritten in tags and comments.
    rewritten: u64,
    /// The document's encoding, for the rare tag read again (`policy`).
    encoding: AsciiCompatibleEncoding,
    /// A policy `<meta>` lists hash sources (which streaming cannot
    /// complete).
    meta_hashes: bool,
    /// No `<body>` start tag seen yet. Browsers honour a policy `<meta>`
    /// only in `<head>`, so tags are looked at for one only until then.
    in_head: bool,
    html_memory: usize,
    window_cap: usize,
}

impl std::fmt::Debug for HtmlStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtmlStage")
            .field("processed", &self.processed)
            .field("held", &self.held.len())
            .field("in_region", &self.in_region)
            .finish_non_exhaustive()
    }
}

impl HtmlStage {
    pub(crate) fn new(
        rules: RewriteRules,
        encoding: AsciiCompatibleEncoding,
        adjust_on_meta: bool,
        limits: &PipelineLimits,
    ) -> Result<Self, PipelineError> {
        let shared = Rc::new(RefCell::new(Shared::default()));
        let sink_fault = Rc::new(std::cell::Cell::new(false));
        let [every, raw_text] = selectors()?;
        let tag_shared = Rc::clone(&shared);
        let tags = ElementContentHandlers::default().element(
            move |el: &mut Element<'_, '_>| -> HandlerResult {
                on_element(&tag_shared, el).map_err(|e| abort(&tag_shared, e))
            },
        );
        let region_shared = Rc::clone(&shared);
        let regions = ElementContentHandlers::default().element(
            move |el: &mut Element<'_, '_>| -> HandlerResult {
                on_raw_text_element(&region_shared, el).map_err(|e| abort(&region_shared, e))
            },
        );
        let comment_shared = Rc::clone(&shared);
        let comments = DocumentContentHandlers::default().comments(
            move |c: &mut Comment<'_>| -> HandlerResult {
                on_comment(&comment_shared, c).map_err(|e| abort(&comment_shared, e))
            },
        );
        // `*` first: lol_html calls an element's handlers in this order,
        // so a raw-text region starts after its own start tag's item.
        let settings = parser_settings(encoding, adjust_on_meta, limits)
            .append_element_content_handler((Cow::Owned(every), tags))
            .append_element_content_handler((Cow::Owned(raw_text), regions))
            .append_document_content_handler(comments);
        let sink = Sink {
            shared: Rc::clone(&shared),
            fault: Rc::clone(&sink_fault),
        };
        Ok(Self {
            rewriter: Some(HtmlRewriter::new(settings, sink)),
            shared,
            sink_fault,
            region: StreamReplacer::new(rules.clone()),
            rules,
            held: Vec::new(),
            queue: Queue::default(),
            items: Vec::new(),
            scratch: Vec::new(),
            processed: 0,
            in_region: false,
            rewritten: 0,
            encoding,
            meta_hashes: false,
            in_head: true,
            html_memory: limits.html_memory,
            window_cap: limits.html_memory.saturating_add(limits.max_pending),
        })
    }

    /// URLs rewritten so far (tags, comments and raw-text regions).
    pub(crate) fn rewritten(&self) -> u64 {
        self.rewritten + self.region.rewritten()
    }

    /// Has a policy `<meta>` with hash sources been seen?
    pub(crate) fn saw_meta_hash_policy(&self) -> bool {
        self.meta_hashes
    }

    pub(crate) fn push(
        &mut self,
        piece: &[u8],
        out: &mut impl ByteSink,
    ) -> Result<(), PipelineError> {
        let Some(rewriter) = self.rewriter.as_mut() else {
            return Err(PipelineError::Poisoned);
        };
        if self.held.len().saturating_add(piece.len()) > self.window_cap {
            self.rewriter = None;
            return Err(PipelineError::LimitExceeded {
                what: "HTML source window",
                limit: self.window_cap,
            });
        }
        let result = rewriter.write(piece);
        self.check(result)?;
        self.after_write(piece, out)
    }

    pub(crate) fn finish(&mut self, out: &mut impl ByteSink) -> Result<(), PipelineError> {
        let Some(rewriter) = self.rewriter.take() else {
            return Err(PipelineError::Poisoned);
        };
        let result = rewriter.end();
        self.check(result)?;
        self.after_write(&[], out)?;
        if !self.held.is_empty() || !self.queue.events.is_empty() {
            return Err(PipelineError::internal(
                "lol_html ended without emitting all of its input",
            ));
        }
        if self.in_region {
            self.in_region = false;
            self.region.finish(out)?;
        }
        Ok(())
    }

    /// Stops rewriting: writes, as they came, the bytes the stage still
    /// holds (the raw-text replacer's tail, then the source window, which
    /// includes the partial token lol_html buffers), so that the output so
    /// far followed by the rest of the input untouched is the document.
    /// lol_html is dropped without `end()`: its copy of the partial token
    /// is the same bytes as our window. Returns how many bytes went out
    /// raw; everything before them is exactly what a full rewrite gives.
    pub(crate) fn stop(&mut self, out: &mut impl ByteSink) -> Result<usize, PipelineError> {
        if self.rewriter.take().is_none() {
            return Err(PipelineError::Poisoned);
        }
        let mut raw = 0;
        if self.in_region {
            self.in_region = false;
            raw += self.region.stop(out)?;
        }
        out.put(&self.held)?;
        Ok(raw + std::mem::take(&mut self.held).len())
    }

    /// Turns lol_html's result (and any fault our handlers or sink
    /// recorded) into ours; any error drops the poisoned rewriter.
    fn check(&mut self, result: Result<(), RewritingError>) -> Result<(), PipelineError> {
        let fault = borrow(&self.shared)?.fault.take();
        let err = if self.sink_fault.get() {
            Some(PipelineError::internal(
                "HTML stage state borrowed during output",
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

    /// After lol_html returned from a write of `chunk` (empty for the end):
    /// turns the recorded items into edits, copies on what lol_html
    /// emitted, and keeps what it has not.
    fn after_write(&mut self, chunk: &[u8], out: &mut impl ByteSink) -> Result<(), PipelineError> {
        let (base, lol_out) = {
            let mut s = borrow(&self.shared)?;
            std::mem::swap(&mut self.items, &mut s.items);
            (s.base, s.lol_out)
        };
        let result = self.apply(chunk, base, lol_out, out);
        self.items.clear();
        if result.is_err() {
            self.rewriter = None;
        }
        result
    }

    fn apply(
        &mut self,
        chunk: &[u8],
        base: u64,
        lol_out: u64,
        out: &mut impl ByteSink,
    ) -> Result<(), PipelineError> {
        let input = Input {
            base,
            held: &self.held,
            chunk,
        };
        if lol_out > input.end() {
            return Err(PipelineError::internal(
                "HTML output past the source window",
            ));
        }
        if cfg!(debug_assertions) {
            let mut s = borrow(&self.shared)?;
            let same = lol_out.checked_sub(s.echo.len() as u64).and_then(|from| {
                input.with_contiguous(from, lol_out, &mut self.scratch, |w| w == s.echo.as_slice())
            });
            s.echo.clear();
            if same != Some(true) {
                return Err(PipelineError::internal(
                    "lol_html output differs from its input",
                ));
            }
        }
        let chunk_start = input.chunk_start();
        // One marker cursor for all the tags and comments of this chunk
        // (see `RewriteRules::rewrite_piece`).
        let mut markers = Markers::default();
        for item in self.items.iter().copied() {
            let (start, end) = match item {
                Item::Tag { start, end } | Item::Comment { start, end } => (start, end),
                Item::RegionStart(p) => {
                    self.queue.push(self.processed, Event::RegionStart(p))?;
                    continue;
                }
                Item::RegionEnd(p) => {
                    self.queue.push(self.processed, Event::RegionEnd(p))?;
                    continue;
                }
            };
            let from = self.queue.edits.len();
            let is_tag = matches!(item, Item::Tag { .. });
            let (count, maybe_meta, first) = if start >= chunk_start {
                // Most tags hold no URL of ours: the shared cursor passes
                // over them with a compare.
                let local = |p: u64| usize::try_from(p - chunk_start).ok();
                match (local(start), local(end)) {
                    (Some(a), Some(b)) if a <= b && b <= chunk.len() => {
                        let count = self.rules.rewrite_piece(
                            &mut markers,
                            chunk,
                            a,
                            b,
                            &mut self.queue.edits,
                        );
                        // In `<head>`, one byte rules out all but
                        // `<meta>` and `<body>` candidates; after it,
                        // it is read only for tags that changed.
                        let head = is_tag && self.in_head;
                        let first = if head || count > 0 {
                            chunk.get(a + 1).copied().unwrap_or(0)
                        } else {
                            0
                        };
                        (
                            count,
                            head && matches!(first, b'm' | b'M' | b'b' | b'B'),
                            first,
                        )
                    }
                    _ => return Err(PipelineError::internal("HTML item outside the chunk")),
                }
            } else {
                // A tag or comment cut by the chunk boundary.
                let (rules, edits) = (&self.rules, &mut self.queue.edits);
                let n = input
                    .with_contiguous(start, end, &mut self.scratch, |b| {
                        rules.rewrite_piece(&mut Markers::default(), b, 0, b.len(), edits)
                    })
                    .ok_or_else(|| PipelineError::internal("HTML item outside the input"))?;
                // The byte after `<`, wherever it lies (the same byte the
                // chunk branch reads, so a split changes no decision).
                let first = input
                    .slices(start + 1, (start + 2).min(end))
                    .and_then(|(a, b)| a.first().or(b.first()).copied())
                    .unwrap_or(0);
                let head = is_tag && self.in_head;
                (n, head && matches!(first, b'm' | b'M' | b'b' | b'B'), first)
            };
            if count == 0 && !maybe_meta {
                continue;
            }
            // Only `<script>` and `<link>` take `integrity`; any other
            // changed tag is queued here, as it always was.
            let maybe_pinned = is_tag && matches!(first, b's' | b'S' | b'l' | b'L');
            if !maybe_meta && !maybe_pinned {
                let bytes = from..self.queue.edits.len();
                self.queue
                    .push(self.processed, Event::Edit { start, end, bytes })?;
                self.rewritten += count;
                continue;
            }
            let special = Special {
                rules: &self.rules,
                encoding: self.encoding,
                scratch: &mut self.scratch,
                queue: &mut self.queue,
                processed: self.processed,
            };
            let done = special.edit(input, (start, end), from, count, maybe_pinned, maybe_meta)?;
            self.rewritten += done.urls;
            self.meta_hashes |= done.hashes;
            self.in_head &= !done.body;
        }
        emit(
            input,
            lol_out,
            &mut self.queue,
            &mut self.processed,
            &mut self.region,
            &mut self.in_region,
            out,
        )?;
        self.queue.release_edits();
        // Keep what lol_html has not emitted (or an edit still waits for).
        let keep = self.processed;
        if keep < chunk_start {
            let k = usize::try_from(keep - base)
                .map_err(|_| PipelineError::internal("HTML window offset overflow"))?;
            self.held.drain(..k);
            reserve_capped(&mut self.held, chunk.len(), self.window_cap);
            self.held.extend_from_slice(chunk);
        } else {
            let k = usize::try_from(keep - chunk_start)
                .map_err(|_| PipelineError::internal("HTML window offset overflow"))?;
            self.held.clear();
            self.held
                .extend_from_slice(chunk.get(k..).unwrap_or_default());
        }
        borrow(&self.shared)?.set_base(keep);
        Ok(())
    }
}

/// What the rare tags need of the stage: a `<s...>` or `<l...>` tag the
/// plain rewrite changed (a `<script>` or `<link>` may be pinned by
/// `integrity`) or, in `<head>`, an `<m...>` or
/// `<b...>` tag (a policy `<meta>`, or the `<body>` that ends the search
/// for one). Out of the per-tag loop so that loop stays as small as it was
/// without them.
struct Special<'a> {
    rules: &'a RewriteRules,
    encoding: AsciiCompatibleEncoding,
    scratch: &'a mut Vec<u8>,
    queue: &'a mut Queue,
    processed: u64,
}

impl Special<'_> {
    /// The edit of one rare tag or comment at `start..end`, whose plain
    /// rewrite (`count` URLs) is `queue.edits[from..]`: a policy `<meta>`
    /// gets the edge appended instead, a pinned tag the raw form. Queues
    /// the edit; says what it found.
    #[cold]
    #[inline(never)]
    fn edit(
        self,
        input: Input<'_>,
        (start, end): (u64, u64),
        from: usize,
        count: u64,
        maybe_pinned: bool,
        in_head: bool,
    ) -> Result<SpecialDone, PipelineError> {
        let (rules, encoding, edits) = (self.rules, self.encoding, &mut self.queue.edits);
        let plain = SpecialDone {
            edited: count > 0,
            urls: count,
            hashes: false,
            body: false,
        };
        let done = input
            .with_contiguous(start, end, self.scratch, |tag| {
                if in_head {
                    if policy::is_body(tag) {
                        return SpecialDone {
                            body: true,
                            ..plain
                        };
                    }
                    if let Some(value) = policy::policy_value(tag, encoding) {
                        edits.truncate(from);
                        let (edited, hashes) = policy::augment_meta(tag, value, rules, edits);
                        return SpecialDone {
                            edited,
                            urls: 0,
                            hashes,
                            body: false,
                        };
                    }
                }
                if count > 0 && maybe_pinned && policy::is_pinned(tag, encoding) {
                    edits.truncate(from);
                    let n = rules.rewrite_piece_raw(tag, 0, tag.len(), edits);
                    return SpecialDone {
                        edited: n > 0,
                        urls: n,
                        ..plain
                    };
                }
                plain
            })
            .ok_or_else(|| PipelineError::internal("HTML item outside the input"))?;
        if done.edited {
            let bytes = from..self.queue.edits.len();
            self.queue
                .push(self.processed, Event::Edit { start, end, bytes })?;
        }
        Ok(done)
    }
}

/// What [`Special::edit`] did.
#[derive(Debug, Clone, Copy)]
struct SpecialDone {
    /// An edit was queued.
    edited: bool,
    /// URLs rewritten by it.
    urls: u64,
    /// A policy `<meta>` lists hash sources.
    hashes: bool,
    /// The tag is `<body>`: no policy `<meta>` counts after it.
    body: bool,
}

/// Grows `v` for `more` bytes geometrically but never past `cap`: a plain
/// doubling `Vec` would reserve up to twice the cap for one unterminated
/// tag, on top of lol_html's own copy of it.
fn reserve_capped(v: &mut Vec<u8>, more: usize, cap: usize) {
    let need = v.len() + more;
    if need > v.capacity() {
        let target = need.max(v.capacity().saturating_mul(2)).min(cap).max(need);
        v.reserve_exact(target - v.len());
    }
}

/// Copies what lol_html has emitted (up to `target`) on, applying queued
/// events.
fn emit(
    input: Input<'_>,
    target: u64,
    queue: &mut Queue,
    processed: &mut u64,
    region: &mut StreamReplacer,
    in_region: &mut bool,
    out: &mut impl ByteSink,
) -> Result<(), PipelineError> {
    loop {
        let next = queue.events.front().map(Event::start);
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
            let (a, b) = input
                .slices(*processed, stop)
                .ok_or_else(|| PipelineError::internal("HTML output outside the source window"))?;
            for bytes in [a, b] {
                if bytes.is_empty() {
                    continue;
                }
                if *in_region {
                    region.push(bytes, out)?;
                } else {
                    out.put(bytes)?;
                }
            }
            *processed = stop;
        }
        match queue.events.front() {
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
        match queue.events.pop_front() {
            Some(Event::Edit { end, bytes, .. }) => {
                if *in_region {
                    return Err(PipelineError::internal("an attribute edit inside raw text"));
                }
                let bytes = queue
                    .edits
                    .get(bytes)
                    .ok_or_else(|| PipelineError::internal("an HTML edit outside its buffer"))?;
                out.put(bytes)?;
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
    Ok(())
}

/// The two selectors of the stage: every element, and the elements whose
/// content is raw text.
fn selectors() -> Result<[Selector; 2], PipelineError> {
    let parse = |s: &str| {
        s.parse::<Selector>()
            .map_err(|_| PipelineError::internal("a built-in selector did not parse"))
    };
    Ok([parse("*")?, parse(attrs::RAW_TEXT_SELECTOR)?])
}

/// The lol_html settings of an HTML body apart from our handlers, shared
/// by [`HtmlStage::new`] and [`lol_html_floor`] so the floor cannot drift
/// from what the stage asks of the parser.
fn parser_settings<'h>(
    encoding: AsciiCompatibleEncoding,
    adjust_on_meta: bool,
    limits: &PipelineLimits,
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
/// `charset` (`*` elements, the raw-text elements, document comments, the
/// encoding and the `<meta>` charset watch, non-strict, the memory cap)
/// and handlers that do nothing: the parser's cost floor the benchmarks
/// compare the HTML rewrite against. It lives here, beside the real
/// settings, so the two cannot drift apart. Feeds `body` in `chunk`-byte
/// writes and returns the bytes lol_html emitted (a charset lol_html
/// cannot tokenize is passed through by the stage, so the floor is a count
/// of the body).
#[doc(hidden)]
pub fn lol_html_floor(
    body: &[u8],
    chunk: usize,
    charset: Option<&str>,
    limits: &PipelineLimits,
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
        .append_element_content_handler(lol_html::element!(attrs::RAW_TEXT_SELECTOR, |_el| Ok(())))
        .append_document_content_handler(lol_html::doc_comments!(|_c| Ok(())));
    let mut rewriter = HtmlRewriter::new(settings, |c: &[u8]| emitted += c.len() as u64);
    for piece in body.chunks(chunk.max(1)) {
        rewriter.write(piece)?;
    }
    rewriter.end()?;
    Ok(emitted)
}

fn borrow(shared: &Rc<RefCell<Shared>>) -> Result<std::cell::RefMut<'_, Shared>, PipelineError> {
    shared
        .try_borrow_mut()
        .map_err(|_| PipelineError::internal("HTML stage state borrowed twice"))
}

/// Records `e` as the fault and returns the error that makes lol_html stop.
fn abort(
    shared: &Rc<RefCell<Shared>>,
    e: PipelineError,
) -> Box<dyn std::error::Error + Send + Sync> {
    if let Ok(mut s) = shared.try_borrow_mut() {
        s.fault.get_or_insert(e);
    }
    Box::new(Abort)
}

/// The comment handler: records where the comment lies (lol_html hands
/// over complete comments only).
fn on_comment(
    shared: &Rc<RefCell<Shared>>,
    comment: &mut Comment<'_>,
) -> Result<(), PipelineError> {
    let range = comment.source_location().bytes();
    let mut s = borrow(shared)?;
    let start = s.abs(range.start);
    s.record(Item::Comment {
        start,
        end: start + range.len() as u64,
    })
}

/// The `*` element handler: records where the start tag lies.
fn on_element(shared: &Rc<RefCell<Shared>>, el: &mut Element<'_, '_>) -> Result<(), PipelineError> {
    let range = el.source_location().bytes();
    let mut s = borrow(shared)?;
    let start = s.abs(range.start);
    s.record(Item::Tag {
        start,
        end: start + range.len() as u64,
    })
}

/// The handler of the raw-text elements: records where their raw text
/// starts and, from an end-tag handler, where it ends.
fn on_raw_text_element(
    shared: &Rc<RefCell<Shared>>,
    el: &mut Element<'_, '_>,
) -> Result<(), PipelineError> {
    if el.namespace_uri() != attrs::HTML_NAMESPACE {
        return Ok(());
    }
    let range = el.source_location().bytes();
    let start = {
        let mut s = borrow(shared)?;
        let start = s.abs(range.end);
        s.record(Item::RegionStart(start))?;
        start
    };
    match el.end_tag_handlers() {
        Some(handlers) => {
            let end_shared = Rc::clone(shared);
            handlers.push(Box::new(move |end: &mut EndTag<'_>| -> HandlerResult {
                let at = end.source_location().bytes().start;
                let recorded = borrow(&end_shared).and_then(|mut s| {
                    let pos = s.abs(at);
                    s.record(Item::RegionEnd(pos))
                });
                recorded.map_err(|e| abort(&end_shared, e))
            }));
            Ok(())
        }
        // Cannot have content after all: the region is empty.
        None => borrow(shared)?.record(Item::RegionEnd(start)),
    }
}
