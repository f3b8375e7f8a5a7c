//! The order endpoint's own HTTP/1.1 connections, so that the session
//! knows when an order's bytes were written to the socket (tick-to-wire).
//!
//! reqwest gives no access to its connections' I/O (its connector layers
//! must return its own sealed connection type), so new orders go through
//! hyper's client connection directly, over a TCP stream wrapped in a
//! [`WriteStamp`]: the first `poll_write` that the kernel accepts bytes
//! from after a request was handed to the connection stamps `now_ns()`.
//! For `https` the stamp sits **under** TLS, so it is the time the first
//! encrypted record of the request entered the socket's send buffer.
//!
//! Keep-alive: idle connections are pooled (at most [`MAX_IDLE`]) and a
//! request checks one out exclusively, so a stamp belongs to exactly one
//! request. A request that fails on a reused connection before a single
//! byte of it was written (the venue closed the idle connection) is sent
//! once more on a fresh one: the stamp proves the first try never left.
//! Anything else (timeout, reset after writing) is the caller's unknown
//! outcome. Signing, headers and the mapping of the answer stay in
//! [`super::signed::SignedClient`].

use crate::core::now_ns;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

/// Idle keep-alive connections kept for the next orders.
pub const MAX_IDLE: usize = 4;

/// When a connection's socket first took bytes since it was armed (ns of
/// `now_ns()`, 0 = nothing written yet).
#[derive(Debug, Default)]
pub struct WriteStamp {
    first_write_ns: AtomicU64,
}

impl WriteStamp {
    fn arm(&self) {
        self.first_write_ns.store(0, Ordering::Release);
    }

    fn wrote(&self) {
        let _ = self.first_write_ns.compare_exchange(
            0,
            now_ns().max(1),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// The stamp, if anything was written since the last arm.
    pub fn get(&self) -> Option<u64> {
        match self.first_write_ns.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }
}

/// A socket whose writes stamp a [`WriteStamp`].
struct StampedIo<S> {
    inner: S,
    stamp: Arc<WriteStamp>,
}

impl<S: AsyncRead + Unpin> AsyncRead for StampedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StampedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.stamp.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.stamp.wrote();
        }
        r
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

/// One keep-alive connection and its stamp.
struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    stamp: Arc<WriteStamp>,
}

/// The answer to a request: status, headers, body, and when its bytes
/// were first written to the socket.
#[derive(Debug)]
pub struct WireReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    pub wire_ns: Option<u64>,
}

/// Why a request got no answer (the caller maps it to a transport error,
/// an unknown outcome for an order). `wire_ns`: when its first byte
/// reached the socket, if it did (known for failures after the handshake).
#[derive(Debug)]
pub struct WireError {
    pub detail: String,
    pub wire_ns: Option<u64>,
}

/// HTTP/1.1 connections to one origin (`http://` or `https://`).
pub struct OrderWire {
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    tls: Option<TlsConnector>,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
    /// Connections opened so far (tests read it to see keep-alive).
    opened: AtomicU64,
}

impl std::fmt::Debug for OrderWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderWire")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// rustls with the webpki roots (as the market-data WebSockets) and the
/// aws-lc-rs provider.
fn tls_connector() -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(cfg)))
}

impl OrderWire {
    /// Connections to the origin of `base` (`scheme://host[:port]`).
    pub fn new(base: &str, timeout: Duration) -> Result<OrderWire, String> {
        let uri: hyper::Uri = base
            .parse()
            .map_err(|e| format!("order endpoint `{base}`: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(format!("order endpoint `{base}`: scheme {other:?}")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("order endpoint `{base}`: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        Ok(OrderWire {
            host,
            port,
            authority,
            tls: if https { Some(tls_connector()?) } else { None },
            timeout,
            idle: Mutex::new(Vec::new()),
            opened: AtomicU64::new(0),
        })
    }

    /// Connections opened since start.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stamp = Arc::new(WriteStamp::default());
        let io = StampedIo {
            inner: tcp,
            stamp: stamp.clone(),
        };
        let sender = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("tls server name: {e}"))?;
                let s = tls
                    .connect(name, io)
                    .await
                    .map_err(|e| format!("tls: {e}"))?;
                handshake(s).await?
            }
            None => handshake(io).await?,
        };
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Conn { sender, stamp })
    }

    /// An idle connection that is still open, or a new one.
    async fn checkout(&self) -> Result<(Conn, bool), String> {
        loop {
            let c = self.idle.lock().pop();
            match c {
                Some(mut c) => {
                    if c.sender.is_closed() || c.sender.ready().await.is_err() {
                        continue;
                    }
                    return Ok((c, true));
                }
                None => return Ok((self.connect().await?, false)),
            }
        }
    }

    /// Sends `method path_and_query` with `headers` and no body; the answer
    /// and the time its first byte was written, within the timeout.
    pub async fn send(
        &self,
        method: &hyper::Method,
        path_and_query: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<WireReply, WireError> {
        let out = tokio::time::timeout(
            self.timeout,
            self.send_inner(method, path_and_query, headers),
        )
        .await;
        match out {
            Ok(r) => r,
            Err(_) => Err(WireError {
                detail: "operation timed out".into(),
                // Not known here (the connection is dropped); a timeout is
                // an unknown outcome either way.
                wire_ns: None,
            }),
        }
    }

    async fn send_inner(
        &self,
        method: &hyper::Method,
        path_and_query: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<WireReply, WireError> {
        let mut retried = false;
        loop {
            let (mut conn, reused) = self.checkout().await.map_err(|detail| WireError {
                detail,
                wire_ns: None,
            })?;
            let mut req = hyper::Request::builder()
                .method(method.clone())
                .uri(path_and_query)
                .header(hyper::header::HOST, self.authority.as_str());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = req.body(Empty::<Bytes>::new()).map_err(|e| WireError {
                detail: format!("request: {e}"),
                wire_ns: None,
            })?;
            conn.stamp.arm();
            let resp = match conn.sender.send_request(req).await {
                Ok(r) => r,
                Err(e) => {
                    let wire_ns = conn.stamp.get();
                    // Nothing of it reached the socket of a reused (stale)
                    // connection: it never left, so one fresh try is safe.
                    if wire_ns.is_none() && reused && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(WireError {
                        detail: format!("request failed: {e}"),
                        wire_ns,
                    });
                }
            };
            let wire_ns = conn.stamp.get();
            let status = resp.status().as_u16();
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| WireError {
                    detail: format!("reading the answer: {e}"),
                    wire_ns,
                })?
                .to_bytes();
            if !conn.sender.is_closed() {
                let mut idle = self.idle.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
            return Ok(WireReply {
                status,
                headers: parts.headers,
                body,
                wire_ns,
            });
        }
    }
}

/// HTTP/1.1 handshake over `io`; the connection runs on the current runtime.
async fn handshake<S>(io: S) -> Result<SendRequest<Empty<Bytes>>, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("order connection closed: {e}");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A loopback HTTP/1.1 server: for each request it notes when its first
    /// bytes were read, waits `delay`, answers 200 (keep-alive), and closes
    /// the connection after `per_conn` answers.
    async fn server(
        delay: Duration,
        per_conn: usize,
    ) -> (String, Arc<Mutex<Vec<u64>>>, Arc<AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let conns = Arc::new(AtomicU64::new(0));
        let (seen2, conns2) = (seen.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                conns2.fetch_add(1, Ordering::Relaxed);
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..per_conn {
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            let n = s.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            if got.is_empty() {
                                seen.lock().push(now_ns());
                            }
                            got.extend_from_slice(&buf[..n]);
                        }
                        tokio::time::sleep(delay).await;
                        let body = b"{\"ok\":1}";
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-mbx-order-count-10s: 3\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                        let _ = s.write_all(body).await;
                    }
                });
            }
        });
        (base, seen, conns)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// The stamp lies between the call and the server reading the request's
    /// first bytes (not at the answer: the server waits 30 ms before it),
    /// and requests reuse one keep-alive connection.
    #[test]
    fn stamps_the_write_and_keeps_the_connection_alive() {
        rt().block_on(async {
            let (base, seen, conns) = server(Duration::from_millis(30), usize::MAX).await;
            let w = OrderWire::new(&base, Duration::from_secs(5)).unwrap();
            for i in 0..3 {
                let t0 = now_ns();
                let r = w
                    .send(
                        &hyper::Method::POST,
                        "/fapi/v1/order?a=1",
                        &[("X-MBX-APIKEY", "k")],
                    )
                    .await
                    .unwrap();
                let t1 = now_ns();
                assert_eq!(r.status, 200);
                assert_eq!(&r.body[..], b"{\"ok\":1}");
                assert_eq!(r.headers["x-mbx-order-count-10s"], "3");
                let stamp = r.wire_ns.expect("a write stamp");
                let read_at = seen.lock()[i];
                assert!(t0 <= stamp && stamp <= read_at, "{t0} {stamp} {read_at}");
                assert!(
                    t1 - stamp >= 30_000_000,
                    "stamped at the write, not the answer"
                );
            }
            assert_eq!(
                conns.load(Ordering::Relaxed),
                1,
                "one keep-alive connection"
            );
            assert_eq!(w.connections_opened(), 1);
        });
    }

    /// A connection the server closed after its answer is not reused; the
    /// next request goes once, on a new connection.
    #[test]
    fn a_closed_connection_is_replaced_and_nothing_is_sent_twice() {
        rt().block_on(async {
            let (base, seen, conns) = server(Duration::ZERO, 1).await;
            let w = OrderWire::new(&base, Duration::from_secs(5)).unwrap();
            for _ in 0..3 {
                let r = w.send(&hyper::Method::GET, "/x", &[]).await.unwrap();
                assert_eq!(r.status, 200);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(seen.lock().len(), 3, "each request reached the server once");
            assert_eq!(conns.load(Ordering::Relaxed), 3);
        });
    }

    #[test]
    fn a_timeout_is_an_error_and_bad_bases_are_refused() {
        rt().block_on(async {
            let (base, _, _) = server(Duration::from_millis(500), usize::MAX).await;
            let w = OrderWire::new(&base, Duration::from_millis(100)).unwrap();
            let e = w.send(&hyper::Method::GET, "/x", &[]).await.unwrap_err();
            assert!(e.detail.contains("timed out"), "{e:?}");
        });
        assert!(OrderWire::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(OrderWire::new("https://fapi.binance.com", Duration::from_secs(1)).is_ok());
    }
}
