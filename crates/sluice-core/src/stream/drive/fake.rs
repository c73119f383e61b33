//! A scripted platform for the drivers' tests: a client that records what
//! it was sent, and an upstream body that returns its reads one by one.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use super::Planned;
use crate::sink::Commit;
use crate::stream::ResponseHead;

/// What the client saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The head was committed with this status.
    Open(u16),
    /// A flush, with every byte written so far.
    Flushed(Vec<u8>),
    /// Sent whole.
    Whole(u16, Vec<u8>),
    /// Ended cleanly with these bytes.
    Finished(Vec<u8>),
    /// Broken off after these bytes.
    Aborted(Vec<u8>),
    /// The rest of the origin body was appended after this many bytes.
    Appended(usize),
}

/// A head: status and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// The client: records events; writes fail past `fail_after` bytes.
#[derive(Clone, Default)]
pub struct Fake {
    events: Rc<RefCell<Vec<Event>>>,
    heads: Rc<RefCell<Vec<Head>>>,
    fail_after: Option<usize>,
    takes_append: bool,
}

impl Fake {
    /// A client that goes away once more than `n` bytes were written.
    pub fn failing_after(n: usize) -> Self {
        Self {
            fail_after: Some(n),
            ..Self::default()
        }
    }

    /// A client whose body takes an appended rest (as Fastly's streaming
    /// body does).
    pub fn appending() -> Self {
        Self {
            takes_append: true,
            ..Self::default()
        }
    }

    /// A head with no headers.
    pub fn head(&self, status: u16) -> Head {
        Head {
            status,
            headers: Vec::new(),
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    /// Every head committed, in order.
    pub fn heads(&self) -> Vec<Head> {
        self.heads.borrow().clone()
    }

    /// The bytes of the last finished, whole or aborted body.
    pub fn body(&self) -> Vec<u8> {
        match self.events().last() {
            Some(Event::Finished(b) | Event::Aborted(b) | Event::Whole(_, b)) => b.clone(),
            _ => Vec::new(),
        }
    }
}

/// The body the fake client is written to.
pub struct Body {
    bytes: Vec<u8>,
    fake: Fake,
}

impl Write for Body {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.fake.fail_after).is_some_and(|n| self.bytes.len() + buf.len() > n) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "client gone"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = Event::Flushed(self.bytes.clone());
        self.fake.events.borrow_mut().push(flushed);
        Ok(())
    }
}

impl<R: Read> crate::page::Append<R> for Body {
    fn append_rest(&mut self, mut rest: R) -> Result<(), R> {
        if !self.fake.takes_append {
            return Err(rest);
        }
        let appended = Event::Appended(self.bytes.len());
        self.fake.events.borrow_mut().push(appended);
        match rest.read_to_end(&mut self.bytes) {
            Ok(_) => Ok(()),
            Err(_) => Err(rest),
        }
    }
}

impl Commit for Fake {
    type Head = Head;
    type Body = Body;

    fn status(head: &Head) -> u16 {
        head.status
    }

    fn open(&mut self, head: Head) -> io::Result<Body> {
        self.events.borrow_mut().push(Event::Open(head.status));
        self.heads.borrow_mut().push(head);
        Ok(Body {
            bytes: Vec::new(),
            fake: self.clone(),
        })
    }

    fn send_whole(&mut self, head: Head, body: Vec<u8>) -> io::Result<()> {
        self.events
            .borrow_mut()
            .push(Event::Whole(head.status, body));
        self.heads.borrow_mut().push(head);
        Ok(())
    }

    fn finish(&mut self, body: Body) -> io::Result<()> {
        self.events.borrow_mut().push(Event::Finished(body.bytes));
        Ok(())
    }

    fn abort(&mut self, body: Body) {
        self.events.borrow_mut().push(Event::Aborted(body.bytes));
    }
}

thread_local! {
    /// The client planned streams commit to: `Planned::planned` takes no
    /// handle, so tests install theirs here.
    static PLANNED: RefCell<Fake> = RefCell::new(Fake::default());
}

/// Makes `fake` the client of planned heads on this thread.
pub fn install(fake: &Fake) {
    PLANNED.with(|p| *p.borrow_mut() = fake.clone());
}

impl Planned for Fake {
    fn planned(head: &ResponseHead) -> (Self, Head) {
        let fake = PLANNED.with(|p| p.borrow().clone());
        let head = Head {
            status: head.status,
            headers: head.headers.clone(),
        };
        (fake, head)
    }
}

/// An upstream body: its reads, one by one, then an optional error.
pub struct Reads {
    reads: Vec<Vec<u8>>,
    then: Option<io::ErrorKind>,
}

impl Reads {
    /// Reads of these chunks, then the end.
    pub fn of(chunks: &[&[u8]]) -> Self {
        Self {
            reads: chunks.iter().rev().map(|c| c.to_vec()).collect(),
            then: None,
        }
    }

    /// After the chunks, a reset instead of the end.
    pub fn then_reset(self) -> Self {
        self.then_fail(io::ErrorKind::ConnectionReset)
    }

    /// After the chunks, this error instead of the end.
    pub fn then_fail(mut self, kind: io::ErrorKind) -> Self {
        self.then = Some(kind);
        self
    }
}

impl Read for Reads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reads.pop() {
            Some(chunk) => {
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(chunk.len())
            }
            None => match self.then {
                Some(kind) => Err(kind.into()),
                None => Ok(0),
            },
        }
    }
}
