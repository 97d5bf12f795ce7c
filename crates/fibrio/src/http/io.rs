//! [`HyperIo`]: hyper's I/O traits over a fibrio stream, and the client's
//! plain-or-TLS [`Stream`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;

use crate::net::TcpStream;

/// Adapts a stream with tokio's I/O traits (a [`TcpStream`] or
/// [`UnixStream`](crate::net::UnixStream) with the `tokio-io` feature, or
/// a TLS stream over one) to `hyper::rt::{Read, Write}`, so that hyper's
/// connections (client or server) run over fibrio sockets, polled by
/// [`compat::block_on`](crate::compat::block_on) or
/// [`compat::spawn_future`](crate::compat::spawn_future).
///
/// Reads go through a buffer of its own (16 KiB, allocated once), copied
/// into hyper's: the crate forbids `unsafe`, and hyper's zero-copy path
/// needs it.
///
/// # Examples
///
/// A hyper server over a fibrio listener, one task per connection:
///
/// ```
/// use std::convert::Infallible;
/// use fibrio::compat::spawn_future;
/// use fibrio::http::{Client, HyperIo};
/// use fibrio::net::TcpListener;
///
/// fibrio::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = fibrio::spawn(move || {
///         let (stream, _) = listener.accept().unwrap();
///         let service = hyper::service::service_fn(|_request| async {
///             Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
///                 bytes::Bytes::from("hi"),
///             )))
///         });
///         let connection = hyper::server::conn::http1::Builder::new()
///             .keep_alive(false)
///             .serve_connection(HyperIo::new(stream), service);
///         spawn_future(connection).join().unwrap().unwrap();
///     });
///     let response = Client::new().get(&format!("http://{addr}/")).send().unwrap();
///     assert_eq!(response.text().unwrap(), "hi");
///     server.join().unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    io: T,
    scratch: Box<[u8]>,
}

impl<T> HyperIo<T> {
    /// Wraps `io`.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let (a, _b) = fibrio::net::UnixStream::pair().unwrap();
    ///     let io = fibrio::http::HyperIo::new(a);
    ///     let _a: fibrio::net::UnixStream = io.into_inner();
    /// });
    /// ```
    pub fn new(io: T) -> HyperIo<T> {
        HyperIo {
            io,
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let (a, _b) = fibrio::net::UnixStream::pair().unwrap();
    ///     let io = fibrio::http::HyperIo::new(a);
    ///     assert!(io.get_ref().peer_addr().is_ok());
    /// });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let (a, _b) = fibrio::net::UnixStream::pair().unwrap();
    ///     let _a = fibrio::http::HyperIo::new(a).into_inner();
    /// });
    /// ```
    pub fn into_inner(self) -> T {
        self.io
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.scratch.len());
        let mut read = ReadBuf::new(&mut this.scratch[..n]);
        match Pin::new(&mut this.io).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A client connection's stream: plain TCP, or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
