//! Telling TLS from plaintext on a port that serves both, as etcd does with cmux when a URL is
//! listed under both schemes: a TLS connection opens with a handshake record, whose first byte
//! (the record type) is 22; no HTTP/1 method and not the HTTP/2 preface starts with it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The first byte of every TLS connection: a handshake record.
pub(super) const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The first byte the client sends, and the stream that will read it again; `None` if the
/// client closed without sending anything. Unix sockets cannot peek, so the byte is read and
/// put back in front.
pub(super) async fn first_byte<S>(mut stream: S) -> io::Result<Option<(u8, Prefixed<S>)>>
where
    S: AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    if stream.read(&mut byte).await? == 0 {
        return Ok(None);
    }
    Ok(Some((
        byte[0],
        Prefixed {
            prefix: Some(byte[0]),
            inner: stream,
        },
    )))
}

/// A stream with one byte already read from it, which its first read returns again.
#[derive(Debug)]
pub(super) struct Prefixed<S> {
    prefix: Option<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() > 0
            && let Some(byte) = self.prefix.take()
        {
            buf.put_slice(&[byte]);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_byte_is_read_again() {
        // The sniffed byte is not lost: the stream reads back everything the client sent.
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\n")
            .await
            .unwrap();
        drop(client);
        let (byte, mut stream) = first_byte(server).await.unwrap().unwrap();
        assert_eq!(byte, b'G');
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_silent_close_is_none() {
        // A client that connects and closes without a byte yields nothing to serve.
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        assert!(first_byte(server).await.unwrap().is_none());
    }
}
