//! The inbound framing: reads length-prefixed RPC frames from a stream into a read buffer that
//! is initialised once and reused, and decodes them with the [`Codec`]'s rules.
//!
//! `asynchronous_codec::FramedRead` zero-fills an 8 KiB scratch buffer before every read and
//! then copies what arrived into its `BytesMut`; on a busy stream that zeroing alone was ~7 % of
//! a node's instructions. This reader reads straight into the unused tail of its own buffer
//! (zeroed once, when the reader is made) and copies each complete frame once, into an
//! allocation of exactly its size (a frame never pins the read buffer). A frame larger than the
//! read buffer is read straight into its own allocation, which grows with what has arrived
//! (never more than twice that plus [`RESERVE_STEP`]), so a length prefix alone never makes the
//! reader allocate the announced size.
//!
//! Same bounds and errors as [`Codec`]'s `Decoder`: a frame over the maximum size is reported
//! once as [`DropReason::TooLarge`] and its bytes skipped as they arrive; an undecodable frame is
//! [`DropReason::Malformed`]; a broken length prefix is an `InvalidData` error (the stream cannot
//! be resynchronised). The end of the stream between frames (or while skipping the bytes of an
//! oversized frame) ends it; inside a frame (its prefix or its body) it is an `UnexpectedEof`
//! error.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use futures::{AsyncRead, Stream};

use super::codec::{DropReason, Inbound, RESERVE_STEP, decode_frame, read_length_prefix};
use super::decode::DecodeLimits;

/// Size of the reused read buffer: frames up to this size (prefix included) are read through
/// it; larger ones are read into their own allocation.
pub(crate) const READ_BUFFER: usize = 8 * 1024;

/// Below this much free space at the end of the read buffer, what is left of it is moved to the
/// front before the next read, so reads stay large.
const MIN_READ: usize = 2 * 1024;

/// What the reader is in the middle of.
#[derive(Debug)]
enum State {
    /// Between frames, or inside one that fits the read buffer.
    Buffered,
    /// Discarding the remaining bytes of an oversized frame (already reported).
    Skip(usize),
    /// Reading a frame larger than the read buffer into its own allocation.
    Large {
        /// The frame; `frame[..filled]` has arrived, the rest is zeroed space to read into.
        frame: Vec<u8>,
        filled: usize,
        /// The announced length.
        len: usize,
    },
}

/// Reads [`Inbound`] frames from `S`, yielding them as a [`Stream`] (see the module docs).
#[derive(Debug)]
pub(crate) struct FrameReader<S> {
    stream: S,
    /// The largest frame (protobuf bytes, without the prefix) accepted.
    max_size: usize,
    limits: DecodeLimits,
    /// The reused read buffer, initialised once; `buf[start..end]` holds bytes not yet consumed.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    state: State,
}

impl<S> FrameReader<S> {
    /// A reader of frames of at most `max_size` protobuf bytes, decoded under `limits`.
    pub(crate) fn new(stream: S, max_size: usize, limits: DecodeLimits) -> Self {
        FrameReader {
            stream,
            max_size,
            limits,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            state: State::Buffered,
        }
    }

    /// Bytes held for frames that have not completed: the read buffer plus a large frame's
    /// allocation.
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.buf.len()
            + match &self.state {
                State::Large { frame, .. } => frame.capacity(),
                _ => 0,
            }
    }

    /// Produces the next item from the bytes already read, if there is one.
    fn next_buffered(&mut self) -> Result<Option<Inbound>, io::Error> {
        match &mut self.state {
            State::Skip(remaining) => {
                let n = (*remaining).min(self.end - self.start);
                self.start += n;
                *remaining -= n;
                if *remaining > 0 {
                    return Ok(None);
                }
                self.state = State::Buffered;
            }
            State::Large { filled, len, .. } => {
                if filled < len {
                    return Ok(None);
                }
                let State::Large { frame, .. } =
                    std::mem::replace(&mut self.state, State::Buffered)
                else {
                    unreachable!("matched above")
                };
                return Ok(Some(decode_frame(&Bytes::from(frame), &self.limits)));
            }
            State::Buffered => {}
        }

        let Some((len, prefix_len)) = read_length_prefix(&self.buf[self.start..self.end])? else {
            return Ok(None);
        };
        if len > self.max_size {
            self.start += prefix_len;
            let n = len.min(self.end - self.start);
            self.start += n;
            if len > n {
                self.state = State::Skip(len - n);
            }
            return Ok(Some(Inbound::Dropped(DropReason::TooLarge {
                len,
                max: self.max_size,
            })));
        }
        let body = self.start + prefix_len;
        let available = self.end - body;
        if available >= len {
            // A copy of exactly the frame: a slice of the read buffer would keep it alive.
            let frame = Bytes::copy_from_slice(&self.buf[body..body + len]);
            self.start = body + len;
            return Ok(Some(decode_frame(&frame, &self.limits)));
        }
        if prefix_len + len > self.buf.len() {
            // Too large for the read buffer: move what has arrived into the frame's own
            // allocation and read the rest straight into it.
            let mut frame = Vec::with_capacity(len.min(available + RESERVE_STEP));
            frame.extend_from_slice(&self.buf[body..self.end]);
            self.start = 0;
            self.end = 0;
            self.state = State::Large {
                frame,
                filled: available,
                len,
            };
            return Ok(None);
        }
        if self.buf.len() - self.start < prefix_len + len {
            self.compact();
        }
        Ok(None)
    }

    /// Moves the unconsumed bytes to the front of the read buffer.
    fn compact(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }
}

impl<S: AsyncRead + Unpin> Stream for FrameReader<S> {
    type Item = Result<Inbound, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.next_buffered()? {
                return Poll::Ready(Some(Ok(item)));
            }
            if this.start == this.end {
                this.start = 0;
                this.end = 0;
            }
            let dst: &mut [u8] = match &mut this.state {
                State::Large { frame, filled, len } => {
                    if *filled == frame.len() {
                        // Grow with what has arrived: at most twice that plus a step.
                        let want = (*filled + RESERVE_STEP).max(2 * *filled).min(*len);
                        frame.reserve_exact(want - frame.len());
                        frame.resize(want, 0);
                    }
                    &mut frame[*filled..]
                }
                State::Buffered | State::Skip(_) => {
                    if this.start > 0 && this.buf.len() - this.end < MIN_READ {
                        this.compact();
                    }
                    &mut this.buf[this.end..]
                }
            };
            debug_assert!(!dst.is_empty(), "frame reader has no space to read into");
            if dst.is_empty() {
                // Unreachable by construction (a frame that fits the buffer is compacted to
                // its front, a larger one has its own allocation); were it reached, a read into
                // no space would return 0 and look like the end of the stream.
                return Poll::Ready(Some(Err(io::Error::other(
                    "frame reader has no space to read into",
                ))));
            }
            let n = ready!(Pin::new(&mut this.stream).poll_read(cx, dst))?;
            if n == 0 {
                // As `FramedRead` did: the end of the stream while skipping an oversized frame
                // (already reported) is a clean end.
                let mid_frame = this.start != this.end || matches!(this.state, State::Large { .. });
                if !mid_frame {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a frame",
                ))));
            }
            match &mut this.state {
                State::Large { filled, .. } => *filled += n,
                State::Buffered | State::Skip(_) => this.end += n,
            }
        }
    }
}
