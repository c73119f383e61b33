//! Filling the cache on a miss: Fastly's core cache as the
//! `sluice_core::cache::inserter` committer writes to it. The committer
//! (insert at the first byte, stream back, purge a broken or oversized
//! fill) is the core's; this is only the calls.

use std::io;
use std::time::Duration;

use fastly::cache::core::Transaction;
use fastly::http::body::StreamingBody;
use fastly::http::header::CONTENT_LENGTH;
use fastly::http::purge::purge_surrogate_key;
use fastly::http::{FramingHeadersMode, HeaderName, HeaderValue};
use fastly::Response;
use sluice_core::cache::inserter::{CacheWrite, Insert, InsertFailed};

/// Fastly's core cache.
pub struct FastlyCache;

impl CacheWrite for FastlyCache {
    type Txn = Transaction;
    type Head = Response;
    type Body = StreamingBody;

    fn status(head: &Response) -> u16 {
        head.get_status().as_u16()
    }

    fn headers(head: &Response) -> Vec<(&str, &[u8])> {
        (head.get_headers())
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect()
    }

    fn send_direct(head: Response) -> StreamingBody {
        head.stream_to_client()
    }

    fn insert(
        txn: Transaction,
        insert: &Insert<'_>,
        mut head: Response,
    ) -> Result<StreamingBody, InsertFailed<Response>> {
        let store = &insert.store;
        let vary: Vec<HeaderName> = (store.vary.names().iter())
            .filter_map(|n| n.parse().ok())
            .collect();
        let mut builder = txn
            .insert(store.ttl)
            .initial_age(store.initial_age)
            .stale_while_revalidate(store.core_stale_window())
            .surrogate_keys(insert.keys.iter().map(String::as_str))
            .user_metadata(insert.meta.clone().into());
        if !vary.is_empty() {
            builder = builder.vary_by(&vary);
        }
        if let Some(len) = insert.known_length {
            builder = builder.known_length(len);
            // A whole (buffered) body: the stream-back has no size hint, so
            // the length the finaliser set must be kept by hand.
            head.set_header(CONTENT_LENGTH, HeaderValue::from(len));
            head.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
        }
        let (body, found) = match builder.execute_and_stream_back() {
            Ok(pair) => pair,
            Err(e) => return Err(InsertFailed::Refused(head, io::Error::other(e))),
        };
        match found.to_stream() {
            Ok(stream) => {
                head.with_body(stream).send_to_client();
                Ok(body)
            }
            Err(e) => {
                let _ = body.abandon();
                Err(InsertFailed::ReadBack(io::Error::other(e)))
            }
        }
    }

    fn insert_marker(txn: Transaction, ttl: Duration, meta: Vec<u8>) -> io::Result<()> {
        let marker = txn.insert(ttl).user_metadata(meta.into()).execute();
        marker
            .map_err(io::Error::other)
            .and_then(StreamingBody::finish)
    }

    fn cancel(txn: Transaction) {
        let _ = txn.cancel_insert_or_update();
    }

    fn finish(body: StreamingBody) -> io::Result<()> {
        body.finish()
    }

    fn abandon(body: StreamingBody) {
        let _ = body.abandon();
    }

    fn purge(key: &str) -> io::Result<()> {
        purge_surrogate_key(key).map_err(|e| io::Error::other(format!("{e:?}")))
    }
}
