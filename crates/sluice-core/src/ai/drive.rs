//! The gateway's two loops, generic over the platform: attempts with
//! retry and fallback before the first byte, and the event-by-event relay
//! of a streamed completion (each event written and flushed on its own).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::fallback::{Backend, Failure, GiveUp, RetryDecision, RetryPolicy};
use super::relay::{FeedError, SseRelay, StreamEnd};
use super::usage::UsageRecord;
use super::ApiError;
use crate::edge_error::{EdgeError, EdgeFault};
use crate::pump::{pump, Flow, Pumped};
use crate::sink::{ClientSink, Commit};

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempted<T> {
    /// The request is answered.
    Done(T),
    /// Failed before anything reached the client: may be retried.
    Failed(Failure),
}

/// Why the attempts ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    /// The last attempt's failure (its [`Failure::api_error`] is the answer).
    pub failure: Failure,
    /// Why no further attempt was made.
    pub why: GiveUp,
}

/// Makes attempts as `policy` allows: the first on the primary backend,
/// later ones (after their backoff) on the fallback. An attempt's own
/// error ends the loop at once.
pub fn run_attempts<T, E>(
    policy: &RetryPolicy,
    fallback_configured: bool,
    mut sleep: impl FnMut(Duration),
    mut attempt: impl FnMut(u32, Backend) -> Result<Attempted<T>, E>,
) -> Result<Result<T, GaveUp>, E> {
    let (mut number, mut backend) = (1u32, Backend::Primary);
    loop {
        let failure = match attempt(number, backend)? {
            Attempted::Done(answer) => return Ok(Ok(answer)),
            Attempted::Failed(failure) => failure,
        };
        log::warn!("llm attempt {number} ({backend:?}) failed before the first byte: {failure:?}");
        match policy.decide(number, failure, false, fallback_configured) {
            RetryDecision::Retry {
                attempt: next,
                backend: then,
                backoff,
            } => {
                sleep(backoff);
                (number, backend) = (next, then);
            }
            RetryDecision::GiveUp(why) => return Ok(Err(GaveUp { failure, why })),
        }
    }
}

/// What an upstream response head means for its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHead {
    /// A failure another attempt may mend (429, 5xx).
    Retry(Failure),
    /// `401`/`403`: the provider refused the provider key. The edge owns
    /// that failure (a `502`); the provider's answer never reaches the
    /// client, which did nothing wrong.
    KeyRefused,
    /// The answer goes to the client as it is: the request's own fault
    /// (another 4xx) with the provider's error body, or a whole completion.
    Pass,
    /// A streamed completion: relay it event by event.
    Stream,
}

/// Decides from the upstream status and whether the client asked for a
/// stream.
pub fn on_head(status: u16, stream: bool) -> OnHead {
    match Failure::from_status(status) {
        Some(failure) if failure.is_retryable() => OnHead::Retry(failure),
        Some(_) if status == 401 || status == 403 => OnHead::KeyRefused,
        Some(_) => OnHead::Pass,
        None if stream => OnHead::Stream,
        None => OnHead::Pass,
    }
}

/// How a relayed completion ended.
#[derive(Debug)]
pub enum Relayed {
    /// The upstream failed before any byte reached the client: the
    /// attempt failed and may be retried.
    Retry,
    /// The response ended: cleanly (`Ok`), with an in-band error event
    /// after the first byte (`Err` of [`EdgeError::Api`]), or broken off
    /// because the client left.
    Ended(Result<(), EdgeFault>, UsageRecord),
}

/// Relays the upstream SSE body through `relay` into `sink`, one event per
/// write and flush, and ends the response.
pub fn relay_events<C: Commit, R: Read>(
    mut upstream: R,
    mut sink: ClientSink<C>,
    relay: &mut SseRelay,
    started: Instant,
) -> Relayed {
    let mut ttft = None;
    let pumped = pump(&mut upstream, |chunk| {
        let progress = relay.feed_each(chunk, |event| {
            sink.write_all(event)?;
            sink.flush()
        })?;
        if progress.first_token && ttft.is_none() {
            ttft = Some(started.elapsed());
        }
        Ok::<_, FeedError<std::io::Error>>(if progress.done {
            Flow::Stop
        } else {
            Flow::More
        })
    });
    let failure = match pumped {
        Ok(()) => match relay.finish() {
            StreamEnd::Complete => None,
            StreamEnd::Failed | StreamEnd::Truncated { .. } => Some(ApiError::stream_interrupted()),
        },
        Err(_) if !relay.has_written() => return Relayed::Retry,
        Err(Pumped::Read(e)) => {
            log::warn!("llm stream broke off mid-stream: {e}");
            Some(ApiError::stream_interrupted())
        }
        Err(Pumped::Handler(FeedError::Upstream(e))) => {
            log::warn!("malformed llm stream: {e}");
            Some(e.api_error())
        }
        Err(Pumped::Handler(FeedError::Downstream(e))) => {
            // Dropping the upstream body closes the provider connection,
            // which cancels the completion.
            drop(upstream);
            let usage = UsageRecord::new(relay.usage(), ttft, started.elapsed());
            return Relayed::Ended(Err(EdgeFault::client_gone(e)), usage);
        }
    };
    let usage = UsageRecord::new(relay.usage(), ttft, started.elapsed());
    let Some(err) = failure else {
        return Relayed::Ended(sink.finish().map_err(EdgeFault::client_gone), usage);
    };
    // After the first byte a failure is an in-band error event, then a
    // clean end of the HTTP response.
    let mut tail = Vec::new();
    relay.fail(&err, &mut tail);
    let ended = sink.write_all(&tail).and_then(|()| sink.finish());
    let fault = match ended {
        Ok(()) => EdgeFault::new(EdgeError::Api(err), "in-band error event sent"),
        Err(e) => EdgeFault::client_gone(e),
    };
    Relayed::Ended(Err(fault), usage)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::ai::relay::RelayConfig;
    use crate::sink::SinkStats;
    use crate::stream::drive::fake::{Event, Fake, Reads};

    const HI: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    const DONE: &[u8] = b"data: [DONE]\n\n";

    fn relay(reads: Reads, fake: &Fake) -> Relayed {
        let sink =
            ClientSink::streaming(fake.clone(), fake.head(200), Rc::new(SinkStats::default()));
        let mut relay = SseRelay::new(RelayConfig::default());
        relay_events(reads, sink, &mut relay, Instant::now())
    }

    #[test]
    fn a_head_retries_on_429_and_5xx_owns_a_refused_key_and_streams_only_if_asked() {
        assert_eq!(on_head(429, true), OnHead::Retry(Failure::Status(429)));
        assert_eq!(on_head(503, false), OnHead::Retry(Failure::Status(503)));
        assert_eq!(on_head(401, true), OnHead::KeyRefused);
        assert_eq!(on_head(403, false), OnHead::KeyRefused);
        assert_eq!(on_head(400, true), OnHead::Pass);
        assert_eq!(on_head(200, false), OnHead::Pass);
        assert_eq!(on_head(200, true), OnHead::Stream);
    }

    #[test]
    fn each_event_is_flushed_on_its_own_even_when_one_read_holds_two() {
        let fake = Fake::default();
        let both = [HI, DONE].concat();
        let Relayed::Ended(result, usage) = relay(Reads::of(&[&both]), &fake) else {
            panic!("ended");
        };
        assert_eq!(result, Ok(()));
        let events = fake.events();
        assert_eq!(events[1], Event::Flushed(HI.to_vec()));
        assert_eq!(events[2], Event::Flushed(both.clone()));
        assert_eq!(events[3], Event::Finished(both));
        assert!(
            !usage.to_json().contains("\"ttft_ms\":null"),
            "{}",
            usage.to_json()
        );
    }

    #[test]
    fn a_break_before_the_first_byte_may_be_retried_after_it_ends_with_an_error_event() {
        let fake = Fake::default();
        assert!(matches!(
            relay(Reads::of(&[]).then_reset(), &fake),
            Relayed::Retry
        ));
        assert!(fake.events().is_empty(), "nothing reached the client");

        let fake = Fake::default();
        let Relayed::Ended(result, _) = relay(Reads::of(&[HI]).then_reset(), &fake) else {
            panic!("ended");
        };
        let fault = result.unwrap_err();
        assert_eq!(*fault.error, EdgeError::Api(ApiError::stream_interrupted()));
        let body = String::from_utf8(fake.body()).unwrap();
        assert!(body.starts_with(std::str::from_utf8(HI).unwrap()));
        assert!(
            body.contains("\"error\"") && body.ends_with("\n\n"),
            "{body}"
        );
        assert!(matches!(fake.events().last(), Some(Event::Finished(_))));
    }

    #[test]
    fn a_client_that_leaves_is_the_clients_fault_and_breaks_the_response() {
        let fake = Fake::failing_after(HI.len());
        let Relayed::Ended(result, _) = relay(Reads::of(&[HI, HI, DONE]), &fake) else {
            panic!("ended");
        };
        assert_eq!(result.map_err(|f| *f.error), Err(EdgeError::ClientGone));
        assert_eq!(fake.events().last(), Some(&Event::Aborted(HI.to_vec())));
    }

    #[test]
    fn attempts_fall_back_after_a_retryable_failure_and_give_up_with_the_last() {
        let policy = RetryPolicy::default().with_initial_backoff(Duration::from_millis(7));
        let seen = RefCell::new(Vec::new());
        let answer = run_attempts(
            &policy,
            true,
            |d| seen.borrow_mut().push(format!("sleep {d:?}")),
            |n, b| {
                seen.borrow_mut().push(format!("{n} {b:?}"));
                Ok::<_, ()>(match b {
                    Backend::Primary => Attempted::Failed(Failure::Status(503)),
                    Backend::Fallback => Attempted::Done("answer"),
                })
            },
        );
        assert_eq!(answer, Ok(Ok("answer")));
        assert_eq!(*seen.borrow(), ["1 Primary", "sleep 7ms", "2 Fallback"]);

        let gave_up = run_attempts(
            &policy,
            false,
            |_| {},
            |_, _| Ok::<Attempted<()>, ()>(Attempted::Failed(Failure::Timeout)),
        );
        let why = GaveUp {
            failure: Failure::Timeout,
            why: GiveUp::NoFallback,
        };
        assert_eq!(gave_up, Ok(Err(why)));
        let refused = run_attempts(
            &policy,
            true,
            |_| {},
            |_, _| Err::<Attempted<()>, _>("own error"),
        );
        assert_eq!(refused, Err("own error"));
    }
}
