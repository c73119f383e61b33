//! The one read loop: a body (an origin, backend or client body on the
//! edge, any `Read` in tests) read in fixed-size chunks, each handed to the
//! caller as soon as it arrives. Reads return whatever bytes are
//! available, so the chunk size bounds memory, not latency.

use std::io::{self, Read, Write};

/// Size of one read.
pub const READ_CHUNK: usize = 16 * 1024;

/// What the caller wants after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read on.
    More,
    /// Stop reading (the rest of the body is left unread).
    Stop,
}

/// Why a pump stopped early.
#[derive(Debug)]
pub enum Pumped<E> {
    /// Reading the body failed (reset, between-bytes timeout).
    Read(io::Error),
    /// The caller refused a chunk.
    Handler(E),
}

/// Reads `body` to its end (or until the caller says stop), handing every
/// chunk to `each`. `Interrupted` reads are retried here and nowhere else.
pub fn pump<R: Read + ?Sized, E>(
    body: &mut R,
    mut each: impl FnMut(&[u8]) -> Result<Flow, E>,
) -> Result<(), Pumped<E>> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Pumped::Read(e)),
        };
        match each(buf.get(..n).unwrap_or_default()).map_err(Pumped::Handler)? {
            Flow::More => {}
            Flow::Stop => return Ok(()),
        }
    }
}

/// Reads at most `cap + 1` bytes, so a caller can tell "exactly at the
/// cap" from "over it" without reading an unbounded body.
pub fn read_capped<R: Read + ?Sized>(body: &mut R, cap: usize) -> io::Result<Vec<u8>> {
    let limit = cap.saturating_add(1);
    let mut out = Vec::new();
    let pumped = pump(body, |chunk| {
        let room = limit - out.len();
        out.extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
        Ok::<_, ()>(if out.len() >= limit {
            Flow::Stop
        } else {
            Flow::More
        })
    });
    match pumped {
        Ok(()) | Err(Pumped::Handler(())) => Ok(out),
        Err(Pumped::Read(e)) => Err(e),
    }
}

/// Why a capped copy stopped.
#[derive(Debug)]
pub enum CopyStop {
    /// More than this many bytes came.
    TooLarge(u64),
    /// Reading the source failed.
    Read(io::Error),
    /// Writing the destination failed.
    Write(io::Error),
}

/// Copies `from` into `to` chunk by chunk while counting; past `limit`
/// bytes it stops before writing the chunk that crossed it (the caller
/// then drops the destination unfinished). Returns the bytes copied.
pub fn copy_capped<R: Read + ?Sized, W: Write + ?Sized>(
    from: &mut R,
    to: &mut W,
    limit: u64,
) -> Result<u64, CopyStop> {
    let mut total = 0u64;
    let copied = pump(from, |chunk| {
        total += chunk.len() as u64;
        if total > limit {
            return Err(CopyStop::TooLarge(limit));
        }
        to.write_all(chunk)
            .map(|()| Flow::More)
            .map_err(CopyStop::Write)
    });
    match copied {
        Ok(()) => Ok(total),
        Err(Pumped::Read(e)) => Err(CopyStop::Read(e)),
        Err(Pumped::Handler(stop)) => Err(stop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns its script of reads one by one.
    struct Script(Vec<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let bytes = self.0.remove(0)?;
            buf[..bytes.len()].copy_from_slice(&bytes);
            Ok(bytes.len())
        }
    }

    fn interrupted() -> io::Result<Vec<u8>> {
        Err(io::ErrorKind::Interrupted.into())
    }

    #[test]
    fn hands_over_each_read_as_it_comes_and_retries_interrupted() {
        let mut body = Script(vec![Ok(b"ab".to_vec()), interrupted(), Ok(b"cde".to_vec())]);
        let mut seen = Vec::new();
        pump(&mut body, |c| {
            seen.push(c.to_vec());
            Ok::<_, ()>(Flow::More)
        })
        .unwrap();
        assert_eq!(seen, vec![b"ab".to_vec(), b"cde".to_vec()]);
    }

    #[test]
    fn reads_at_most_one_chunk_at_a_time() {
        let mut body: &[u8] = &vec![7u8; READ_CHUNK * 2 + 1];
        let mut sizes = Vec::new();
        pump(&mut body, |c| {
            sizes.push(c.len());
            Ok::<_, ()>(Flow::More)
        })
        .unwrap();
        assert_eq!(sizes, vec![READ_CHUNK, READ_CHUNK, 1]);
    }

    #[test]
    fn stop_leaves_the_rest_unread_and_errors_say_whose() {
        let mut body = Script(vec![Ok(b"a".to_vec()), Ok(b"b".to_vec())]);
        pump(&mut body, |_| Ok::<_, ()>(Flow::Stop)).unwrap();
        assert_eq!(body.0.len(), 1, "the second read was never made");

        let mut body = Script(vec![Ok(b"a".to_vec())]);
        let refused = pump(&mut body, |_| Err::<Flow, _>("no"));
        assert!(matches!(refused, Err(Pumped::Handler("no"))));

        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let mut body = Script(vec![Ok(b"a".to_vec()), Err(reset)]);
        let broke = pump(&mut body, |_| Ok::<_, ()>(Flow::More));
        assert!(
            matches!(broke, Err(Pumped::Read(e)) if e.kind() == io::ErrorKind::ConnectionReset)
        );
    }

    #[test]
    fn copy_capped_copies_to_the_limit_and_stops_before_the_chunk_past_it() {
        let mut out = Vec::new();
        assert_eq!(copy_capped(&mut &b"abcd"[..], &mut out, 4).unwrap(), 4);
        assert_eq!(out, b"abcd");
        let mut out = Vec::new();
        let mut two = Script(vec![Ok(b"abc".to_vec()), Ok(b"de".to_vec())]);
        assert!(matches!(
            copy_capped(&mut two, &mut out, 4),
            Err(CopyStop::TooLarge(4))
        ));
        assert_eq!(out, b"abc", "the crossing chunk is not written");
        let mut broken = Script(vec![Err(io::ErrorKind::ConnectionReset.into())]);
        assert!(matches!(
            copy_capped(&mut broken, &mut Vec::new(), 4),
            Err(CopyStop::Read(_))
        ));
        let mut full: &mut [u8] = &mut [0u8; 2];
        assert!(matches!(
            copy_capped(&mut &b"abc"[..], &mut full, 9),
            Err(CopyStop::Write(_))
        ));
    }

    #[test]
    fn read_capped_tells_at_the_cap_from_over_it() {
        assert_eq!(read_capped(&mut &b"abcd"[..], 4).unwrap(), b"abcd");
        assert_eq!(read_capped(&mut &b"abcde"[..], 4).unwrap(), b"abcde");
        assert_eq!(read_capped(&mut &b"abcdefgh"[..], 4).unwrap(), b"abcde");
        let mut split = Script(vec![Ok(b"abc".to_vec()), Ok(b"defg".to_vec())]);
        assert_eq!(read_capped(&mut split, 4).unwrap(), b"abcde");
        let mut broken = Script(vec![
            Ok(b"ab".to_vec()),
            Err(io::ErrorKind::TimedOut.into()),
        ]);
        assert_eq!(
            read_capped(&mut broken, 4).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }
}
