//! A byte stream whose writes can be silenced, for a server that hangs.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that reads and writes through to `inner` until it is muzzled; from then on it still
/// reads, but everything written to it is dropped.
///
/// The proxy's `mute` fault needs this below tungstenite: tungstenite answers a ping by itself,
/// as it reads, and offers no switch to stop it. Muzzling the transport silences those answers
/// too, and the close frames, so the client hears nothing at all while what it sends is still
/// read and passed on.
#[derive(Debug)]
pub(crate) struct Muzzle<S> {
    inner: S,
    muzzled: bool,
}

impl<S> Muzzle<S> {
    /// Wraps `inner`, not yet muzzled.
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            muzzled: false,
        }
    }

    /// Drops everything written from now on. There is no way back: a hung server stays hung.
    pub(crate) fn muzzle(&mut self) {
        self.muzzled = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Muzzle<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Muzzle<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.muzzled {
            // Reported as written, so that the writer carries on as if the peer were just slow
            // to show it.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.muzzled {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A hung server does not half-close either; dropping the stream still closes it.
        if self.muzzled {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::Muzzle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test]
    async fn writes_pass_until_muzzled_and_reads_pass_always() {
        let (near, mut far) = duplex(64);
        let mut stream = Muzzle::new(near);
        stream.write_all(b"heard").await.expect("written");
        stream.muzzle();
        stream
            .write_all(b"dropped")
            .await
            .expect("reported written");
        far.write_all(b"still read").await.expect("written");

        let mut heard = [0u8; 5];
        far.read_exact(&mut heard).await.expect("read");
        assert_eq!(&heard, b"heard");
        let mut read = [0u8; 10];
        stream.read_exact(&mut read).await.expect("read");
        assert_eq!(&read, b"still read");
        drop(stream);
        let mut rest = Vec::new();
        far.read_to_end(&mut rest).await.expect("read to the end");
        assert!(rest.is_empty(), "muzzled writes arrived: {rest:?}");
    }
}
