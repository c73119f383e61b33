//! The shared delivery options and the stream adaptor that applies them.

use super::gate::FaultGate;
use super::{
    injected_reset, ChunkStream, ConnControl, MAX_FIXED_CHUNK, MAX_RANDOM_CHUNK, MAX_SLEEP_MS,
};
use crate::content::SplitMix64;
use crate::error::RouteError;
use crate::query::Query;
use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use std::io;
use std::time::Duration;

/// How the body is cut into writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// As the source produces it, no extra flushes.
    Source,
    /// Pieces of exactly this size (the last may be shorter), one flush each.
    Fixed(usize),
    /// Pieces of 1..=16384 bytes drawn from `SplitMix64::new(seed)`, one
    /// flush each.
    Random(u64),
}

/// The delivery options every body-producing route accepts.
#[derive(Debug, Clone)]
pub struct BodyOpts {
    /// `?chunk=N|random` (+ `?seed=`).
    pub chunking: Chunking,
    /// `?interval_ms=`: sleep between pieces.
    pub interval: Option<Duration>,
    /// `?pause_after=BYTES&pause_ms=MS`.
    pub pause: Option<(u64, Duration)>,
    /// `?reset_after=BYTES`.
    pub reset_after: Option<u64>,
    /// `?lie=gzip|br|deflate`: header value sent over an identity body.
    pub lie: Option<&'static str>,
    /// `?chunked=1`: omit Content-Length.
    pub chunked: bool,
    /// `?fail_status=CODE`: answer with this error status instead of the
    /// resource.
    pub fail_status: Option<StatusCode>,
}

impl BodyOpts {
    /// Reads the options from the query; invalid values are a 400.
    pub fn from_query(q: &Query) -> Result<Self, RouteError> {
        let chunking = match q.get("chunk") {
            None | Some("") => Chunking::Source,
            Some("random") => Chunking::Random(q.parse_opt::<u64>("seed")?.unwrap_or(0)),
            Some(_) => {
                let n = q.u64_in("chunk", 0, MAX_FIXED_CHUNK)?;
                if n == 0 {
                    return Err(RouteError::bad("chunk must be at least 1"));
                }
                Chunking::Fixed(n as usize)
            }
        };
        let interval = q
            .parse_opt::<u64>("interval_ms")?
            .map(|ms| ms.min(MAX_SLEEP_MS))
            .map(Duration::from_millis);
        let pause = match q.parse_opt::<u64>("pause_after")? {
            None => None,
            Some(at) => Some((
                at,
                Duration::from_millis(q.u64_in("pause_ms", 1000, MAX_SLEEP_MS)?),
            )),
        };
        let lie = match q.get("lie") {
            None => None,
            Some("gzip") => Some("gzip"),
            Some("br") => Some("br"),
            Some("deflate") => Some("deflate"),
            Some(other) => {
                return Err(RouteError::bad(format!(
                    "lie={other:?}: use gzip, br or deflate"
                )))
            }
        };
        let fail_status = match q.parse_opt::<u16>("fail_status")? {
            None => None,
            Some(code @ 400..=599) => StatusCode::from_u16(code).ok(),
            Some(code) => {
                return Err(RouteError::bad(format!(
                    "fail_status={code}: use 400..=599"
                )))
            }
        };
        Ok(Self {
            chunking,
            interval,
            pause,
            reset_after: q.parse_opt("reset_after")?,
            lie,
            chunked: q.flag("chunked"),
            fail_status,
        })
    }

    /// The options for one request: [`BodyOpts::from_query`], with the
    /// faults (`reset_after`, `lie`, `fail_status`) dropped when the
    /// request's `once` / `later` token says they do not fire this time.
    pub fn for_request(q: &Query, gate: &FaultGate) -> Result<Self, RouteError> {
        let mut opts = Self::from_query(q)?;
        if !gate.fires(q)? {
            opts.reset_after = None;
            opts.lie = None;
            opts.fail_status = None;
        }
        Ok(opts)
    }

    fn is_plain(&self) -> bool {
        self.chunking == Chunking::Source
            && self.interval.is_none()
            && self.pause.is_none()
            && self.reset_after.is_none()
    }
}

enum Gap {
    None,
    Yield,
    Sleep(Duration),
}

struct Shaper {
    src: ChunkStream,
    buf: Bytes,
    pos: u64,
    chunking: Chunking,
    rng: SplitMix64,
    quota: usize,
    interval: Option<Duration>,
    pause: Option<(u64, Duration)>,
    reset_at: Option<u64>,
    gap: Gap,
    done: bool,
    ctl: ConnControl,
}

impl Shaper {
    async fn next_piece(&mut self) -> Option<io::Result<Bytes>> {
        if self.done {
            return None;
        }
        match std::mem::replace(&mut self.gap, Gap::None) {
            Gap::None => {}
            Gap::Yield => tokio::task::yield_now().await,
            Gap::Sleep(d) => tokio::time::sleep(d).await,
        }
        if self.reset_at.is_some_and(|r| self.pos >= r) {
            self.done = true;
            return Some(Err(injected_reset(&self.ctl).await));
        }
        while self.buf.is_empty() {
            match self.src.next().await {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(b)) => self.buf = b,
            }
        }
        let mut take = self.buf.len();
        let paced = match self.chunking {
            Chunking::Source => false,
            Chunking::Fixed(n) => {
                if self.quota == 0 {
                    self.quota = n;
                }
                true
            }
            Chunking::Random(_) => {
                if self.quota == 0 {
                    self.quota = self.rng.range_inclusive(1, MAX_RANDOM_CHUNK) as usize;
                }
                true
            }
        };
        if paced {
            take = take.min(self.quota);
        }
        for limit in [self.pause.map(|p| p.0), self.reset_at]
            .into_iter()
            .flatten()
        {
            if self.pos < limit {
                take = take.min(usize::try_from(limit - self.pos).unwrap_or(usize::MAX));
            }
        }
        let piece = self.buf.split_to(take);
        self.pos += take as u64;
        if paced {
            self.quota -= take;
        }
        self.gap = match self.pause {
            Some((at, d)) if at == self.pos => {
                self.pause = None;
                Gap::Sleep(d)
            }
            _ => match self.interval {
                Some(d) => Gap::Sleep(d),
                None if paced => Gap::Yield,
                None => Gap::None,
            },
        };
        Some(Ok(piece))
    }
}

/// Applies the delivery options to a source. A yield after each paced
/// piece makes hyper flush it as its own write.
pub fn shape(src: ChunkStream, opts: &BodyOpts, ctl: ConnControl) -> ChunkStream {
    if opts.is_plain() {
        return src;
    }
    let seed = match opts.chunking {
        Chunking::Random(s) => s,
        _ => 0,
    };
    // A pause at byte 0 happens before anything is sent.
    let (gap, pause) = match opts.pause {
        Some((0, d)) => (Gap::Sleep(d), None),
        p => (Gap::None, p),
    };
    let shaper = Shaper {
        src,
        buf: Bytes::new(),
        pos: 0,
        chunking: opts.chunking,
        rng: SplitMix64::new(seed),
        quota: 0,
        interval: opts.interval,
        pause,
        reset_at: opts.reset_after,
        gap,
        done: false,
        ctl,
    };
    Box::pin(futures_util::stream::unfold(shaper, |mut s| async move {
        s.next_piece().await.map(|r| (r, s))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs `opts` over `data` split at `cuts`; returns the pieces and
    /// whether the stream ended in an error.
    fn run(data: &[u8], cuts: &[usize], opts: &BodyOpts) -> (Vec<Bytes>, bool) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let mut parts = Vec::new();
        let mut at = 0;
        for &c in cuts {
            let c = c.min(data.len());
            if c > at {
                parts.push(Ok(Bytes::copy_from_slice(&data[at..c])));
                at = c;
            }
        }
        parts.push(Ok(Bytes::copy_from_slice(&data[at..])));
        let src: ChunkStream = Box::pin(futures_util::stream::iter(parts));
        rt.block_on(async {
            let mut s = shape(src, opts, ConnControl::default());
            let mut out = Vec::new();
            while let Some(p) = s.next().await {
                match p {
                    Ok(b) => out.push(b),
                    Err(_) => return (out, true),
                }
            }
            (out, false)
        })
    }

    fn opts(chunking: Chunking) -> BodyOpts {
        BodyOpts {
            chunking,
            interval: None,
            pause: None,
            reset_after: None,
            lie: None,
            chunked: false,
            fail_status: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn chunking_never_changes_the_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..70_000),
            mut cuts in proptest::collection::vec(0usize..70_000, 0..8),
            fixed in 1usize..5000,
            seed in any::<u64>(),
        ) {
            cuts.sort_unstable();
            for (chunking, max) in [(Chunking::Fixed(fixed), fixed), (Chunking::Random(seed), 16_384)] {
                let (pieces, err) = run(&data, &cuts, &opts(chunking));
                prop_assert!(!err);
                prop_assert!(pieces.iter().all(|p| !p.is_empty() && p.len() <= max));
                prop_assert_eq!(pieces.concat(), data.clone());
            }
        }

        #[test]
        fn pause_is_a_piece_boundary_and_reset_cuts_exactly(
            data in proptest::collection::vec(any::<u8>(), 1..50_000),
            at in prop_oneof![0usize..60_000, Just(usize::MAX)],
            seed in any::<u64>(),
        ) {
            let mut o = opts(Chunking::Random(seed));
            o.pause = Some((at as u64, Duration::from_millis(5)));
            let (pieces, err) = run(&data, &[], &o);
            prop_assert!(!err);
            let mut sum = 0;
            let mut boundaries = vec![0];
            for p in &pieces {
                sum += p.len();
                boundaries.push(sum);
            }
            prop_assert!(at >= data.len() || boundaries.contains(&at));
            let at = if at == usize::MAX { data.len() } else { at };
            prop_assert_eq!(pieces.concat(), data.clone());

            let mut o = opts(Chunking::Source);
            o.reset_after = Some(at as u64);
            let (pieces, err) = run(&data, &[at / 2], &o);
            let got = pieces.concat();
            if at <= data.len() {
                // At exactly the length, the bytes are complete but the
                // body still ends in an error (no chunked terminator).
                prop_assert!(err, "reset at or before the end errors");
                prop_assert_eq!(&got[..], &data[..at]);
            } else {
                prop_assert!(!err, "a reset point past the end never fires");
                prop_assert_eq!(got, data.clone());
            }
        }
    }

    #[test]
    fn random_chunk_sizes_are_reproducible_from_the_seed() {
        let data = vec![7u8; 200_000];
        let sizes = |seed| {
            run(&data, &[], &opts(Chunking::Random(seed)))
                .0
                .iter()
                .map(Bytes::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(3), sizes(3));
        assert_ne!(sizes(3), sizes(4));
    }
}
