//! Caps that keep one pipeline's memory and work bounded whatever the
//! origin sends.
//!
//! Every buffer in the pipeline is either fixed-size or capped here; going
//! past a cap is a typed [`crate::PipelineError`], never unbounded growth.

/// Resource caps for one [`crate::Pipeline`], built with
/// `PipelineLimits::default().with_*(..)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineLimits {
    pub(crate) max_decoded_bytes: Option<u64>,
    pub(crate) max_ratio: u64,
    pub(crate) ratio_grace: u64,
    pub(crate) html_memory: usize,
    pub(crate) max_pending: usize,
    pub(crate) max_brotli_window: usize,
}

/// Default of [`PipelineLimits::with_max_brotli_window`]: 4 MiB, the window of
/// brotli's reference encoder at its default `lgwin` 22 (also the default
/// of zlib-based servers, Node, Apache and Python).
pub const DEFAULT_MAX_BROTLI_WINDOW: usize = 4 << 20;
/// The smallest window brotli defines (`WBITS` 10).
pub const MIN_BROTLI_WINDOW: usize = 1 << 10;
/// The largest window RFC 7932 brotli defines (`WBITS` 24); large-window
/// brotli is refused whatever the cap.
pub const MAX_BROTLI_WINDOW: usize = 1 << 24;

impl Default for PipelineLimits {
    fn default() -> Self {
        Self {
            max_decoded_bytes: None,
            max_ratio: 100,
            ratio_grace: 1 << 20,
            html_memory: 4 << 20,
            max_pending: 64 << 10,
            max_brotli_window: DEFAULT_MAX_BROTLI_WINDOW,
        }
    }
}

impl PipelineLimits {
    /// Caps the total number of decoded bytes of one body. Bodies streamed
    /// through the edge can legitimately be many GiB, so there is no total
    /// cap unless the operator sets one; the ratio cap below is what stops
    /// a small compressed bomb.
    ///
    /// ### Default
    /// `None` (unlimited).
    #[must_use]
    pub fn with_max_decoded_bytes(mut self, max: Option<u64>) -> Self {
        self.max_decoded_bytes = max;
        self
    }

    /// Caps decoded bytes per encoded byte. Real text compresses 3-20x with
    /// gzip and rarely beyond 50x even with brotli; a bomb is 1000x or more.
    /// Checked only once [`PipelineLimits::with_ratio_grace`] bytes have been decoded,
    /// so a tiny, highly repetitive page is not rejected. Ignored for
    /// identity input (the ratio is 1). `0` disables the check.
    ///
    /// ### Default
    /// `100`.
    #[must_use]
    pub fn with_max_ratio(mut self, ratio: u64) -> Self {
        self.max_ratio = ratio;
        self
    }

    /// How many decoded bytes may be produced before the ratio cap applies.
    ///
    /// ### Default
    /// 1 MiB.
    #[must_use]
    pub fn with_ratio_grace(mut self, bytes: u64) -> Self {
        self.ratio_grace = bytes;
        self
    }

    /// Caps the memory lol_html may use to hold one incomplete construct
    /// (a start tag, comment or attribute value split across chunks). A
    /// 100 MiB attribute value without `>` fails with
    /// [`crate::PipelineError::HtmlMemoryLimit`] once it crosses this cap.
    /// Until then such a construct is held twice: by lol_html and in the
    /// rewriter's source window. The HTML stage's peak is therefore about
    /// `2 * html_memory + max_pending`.
    ///
    /// ### Default
    /// 4 MiB.
    #[must_use]
    pub fn with_html_memory(mut self, bytes: usize) -> Self {
        self.html_memory = bytes;
        self
    }

    /// Caps what sluice's own rewriters hold back on top of lol_html's
    /// buffer: the HTML source window may hold at most
    /// `html_memory + max_pending` not-yet-emitted bytes. (The byte
    /// replacer's look-behind/look-ahead tail is bounded by the longest
    /// rewrite host plus 12 bytes and never comes near this.)
    ///
    /// ### Default
    /// 64 KiB.
    #[must_use]
    pub fn with_max_pending(mut self, bytes: usize) -> Self {
        self.max_pending = bytes;
        self
    }

    /// Caps the window a brotli body may use, in bytes.
    ///
    /// A brotli body declares its window (`WBITS`, 1 KiB to 16 MiB) and
    /// back-references may reach that far, so the window is the floor of
    /// decoding it: no setting makes a body with a 16 MiB window decode in
    /// less. The decoder allocates a ring buffer of the whole window when
    /// the body's first meta-block starts (a body that is one small
    /// meta-block gets one of its own size instead), which makes it the
    /// largest allocation of a pipeline. One larger than this cap is
    /// refused: the body fails with
    /// [`crate::PipelineError::BrotliWindowTooLarge`] before the allocation
    /// and before any output, so the adapter can answer 502 before the
    /// response is committed. Values are clamped to
    /// [`MIN_BROTLI_WINDOW`]..=[`MAX_BROTLI_WINDOW`].
    ///
    /// ### Default
    /// [`DEFAULT_MAX_BROTLI_WINDOW`] (4 MiB): every body from an encoder at
    /// brotli's default window passes, and the pipeline's heap stays under
    /// 8 MiB.
    #[must_use]
    pub fn with_max_brotli_window(mut self, bytes: usize) -> Self {
        self.max_brotli_window = bytes.clamp(MIN_BROTLI_WINDOW, MAX_BROTLI_WINDOW);
        self
    }

    /// The configured brotli window cap, in bytes.
    pub fn max_brotli_window(&self) -> usize {
        self.max_brotli_window
    }

    /// The configured total decoded-bytes cap.
    pub fn max_decoded_bytes(&self) -> Option<u64> {
        self.max_decoded_bytes
    }

    /// The configured ratio cap (`0` = disabled).
    pub fn max_ratio(&self) -> u64 {
        self.max_ratio
    }

    /// The configured lol_html memory cap.
    pub fn html_memory(&self) -> usize {
        self.html_memory
    }

    /// The configured cap on sluice's own held-back bytes.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }
}
