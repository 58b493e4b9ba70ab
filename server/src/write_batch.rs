//! The frames on their way to one socket.

use crate::Frame;
use std::{
    collections::VecDeque,
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::AsyncWrite;

/// At most this many frames go into one `writev`: enough to empty a typical batch in one system
/// call, far below the kernel's limit of 1024.
const MAX_SLICES: usize = 64;

/// Frames taken from an outbox and being written, with how much of the first is already out.
///
/// The frames are written with vectored writes straight from their shared buffers: a broadcast
/// is encoded once and no connection copies it into a buffer of its own. Nothing is held between
/// batches either: once a batch is out, its queue's memory is released, so an idle connection
/// keeps no write buffer at all.
///
/// If a write is interrupted (the future dropped), the batch holds exactly the bytes not yet
/// written, in order, so the rest can still be delivered.
#[derive(Debug, Default)]
pub struct WriteBatch {
    frames: VecDeque<Frame>,
    // Bytes of `frames[0]` already written.
    written: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether everything was written.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Appends `frames` to what is still to be written.
    pub fn extend(&mut self, mut frames: VecDeque<Frame>) {
        if self.frames.is_empty() {
            // The usual case: take the outbox's queue as is.
            self.frames = frames;
            self.written = 0;
        } else {
            self.frames.append(&mut frames);
        }
    }

    /// Drops every frame not yet begun, keeping only the rest of one partly written: what a
    /// connection being closed still owes so that its close frame starts on a frame boundary.
    pub fn keep_partial_frame(&mut self) {
        if self.written == 0 {
            *self = Self::default();
        } else {
            self.frames.truncate(1);
        }
    }

    /// Writes the whole batch to `io` and flushes it.
    pub async fn write_to<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_to(cx, io)).await
    }

    /// The body of [`write_to`](Self::write_to), as a poll function so that the slices live on
    /// the stack of one poll rather than in the future, which every connection holds.
    fn poll_write_to<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut W,
    ) -> Poll<io::Result<()>> {
        while !self.frames.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, frame) in self.frames.iter().take(MAX_SLICES).enumerate() {
                let skip = if i == 0 { self.written } else { 0 };
                slices[i] = IoSlice::new(&frame.wire()[skip..]);
                count += 1;
            }
            let n = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(n);
        }
        // Release the queue's memory: an idle connection holds none.
        self.frames = VecDeque::new();
        Pin::new(io).poll_flush(cx)
    }

    /// Marks `n` more bytes as written.
    fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.frames.front() {
            let left = front.wire().len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.frames.pop_front();
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    /// A writer that takes at most `step` bytes per call, and records them.
    struct Trickle {
        step: usize,
        out: Vec<u8>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn frames(texts: &[&'static str]) -> VecDeque<Frame> {
        texts.iter().map(|text| Frame::raw(text)).collect()
    }

    fn wire(texts: &[&'static str]) -> Vec<u8> {
        texts
            .iter()
            .flat_map(|text| Frame::raw(text).wire().to_vec())
            .collect()
    }

    #[tokio::test]
    async fn partial_writes_deliver_every_byte_in_order() {
        let texts = ["one", "two", "a longer third frame", "4"];
        for step in [1, 3, 7, 1000] {
            let mut batch = WriteBatch::new();
            batch.extend(frames(&texts));
            let mut io = Trickle {
                step,
                out: Vec::new(),
            };
            batch.write_to(&mut io).await.expect("written");
            assert_eq!(io.out, wire(&texts), "step {step}");
            assert!(batch.is_empty());
        }
    }

    #[tokio::test]
    async fn more_frames_than_one_writev_takes() {
        let texts: Vec<&'static str> = (0..200).map(|_| "frame").collect();
        let mut batch = WriteBatch::new();
        batch.extend(frames(&texts));
        let mut io = Trickle {
            step: usize::MAX,
            out: Vec::new(),
        };
        batch.write_to(&mut io).await.expect("written");
        assert_eq!(io.out, wire(&texts));
    }

    #[test]
    fn an_interrupted_batch_keeps_exactly_the_unwritten_bytes() {
        let mut batch = WriteBatch::new();
        batch.extend(frames(&["abc", "def"]));
        let first = Frame::raw("abc").wire().len();
        batch.advance(first + 2);
        batch.extend(frames(&["ghi"]));
        assert_eq!(batch.frames.len(), 2);
        assert_eq!(batch.written, 2);
    }

    #[tokio::test]
    async fn keeping_the_partial_frame_ends_the_output_on_a_frame_boundary() {
        let mut batch = WriteBatch::new();
        batch.extend(frames(&["abc", "def", "ghi"]));
        let first = Frame::raw("abc");
        batch.advance(2);
        batch.keep_partial_frame();
        let mut io = Trickle {
            step: 1,
            out: Vec::new(),
        };
        batch.write_to(&mut io).await.expect("written");
        assert_eq!(
            io.out,
            first.wire()[2..],
            "the rest of the first frame, nothing after it"
        );

        let mut untouched = WriteBatch::new();
        untouched.extend(frames(&["abc", "def"]));
        untouched.keep_partial_frame();
        assert!(untouched.is_empty(), "no frame begun: nothing owed");
    }

    #[tokio::test]
    async fn a_written_batch_holds_no_memory() {
        let mut batch = WriteBatch::new();
        batch.extend(frames(&["x"; 100]));
        batch
            .write_to(&mut Trickle {
                step: 10,
                out: Vec::new(),
            })
            .await
            .expect("written");
        assert_eq!(batch.frames.capacity(), 0);
    }
}
