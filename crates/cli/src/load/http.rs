//! A minimal keep-alive HTTP/1.1 client for the load generator: one hyper connection
//! per worker task, reconnected on failure, timed per request.
//!
//! A fixed pool of connections, each owned by one task, is used instead of a pooled
//! client because it has no shared lock on the hot path and because "C workers"
//! then means exactly "at most C requests in flight".

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

/// A request that does not finish within this is counted as a timeout; the server
/// promises 503 + Retry-After under overload, never a hang.
pub const request_timeout_ms: u64 = 10_000;
/// Connecting is retried this often before a worker gives up on a request.
pub const connect_attempts_max: u32 = 3;

/// Where to send requests: `host:port` for the socket and the `Host` header, and a
/// path prefix (e.g. `/api/v1/demo`).
#[derive(Clone, Debug)]
pub struct Target {
    pub authority: String,
    pub path: String,
}

impl Target {
    /// Parses `http://host:port/path?query`; only plain `http` is supported since
    /// the load generator measures the server, not TLS.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(format!("URL {url:?}: scheme {other} is not supported, use http")),
            None => return Err(format!("URL {url:?} needs a scheme, e.g. http://127.0.0.1:8080")),
        }
        let authority = uri.authority().ok_or_else(|| format!("URL {url:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let path = path.trim_end_matches('/');
        Ok(Target { authority: format!("{}:{port}", authority.host()), path: path.to_string() })
    }
}

/// What came back: enough for the scenarios (status, Retry-After, body).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub retry_after_secs: Option<u64>,
    pub body: Bytes,
    /// From writing the request to having read the whole body.
    pub latency: Duration,
}

impl Reply {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The stable problem+json `code`, if the body is a problem document.
    pub fn problem_code(&self) -> Option<String> {
        self.json()?.get("code")?.as_str().map(str::to_string)
    }
}

/// A transport failure: no HTTP status was received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Connect(String),
    Io(String),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::Io(e) => write!(f, "I/O error: {e}"),
            Failure::Timeout => write!(f, "no reply within {request_timeout_ms} ms"),
        }
    }
}

/// The header values one request carries besides method, path and body.
#[derive(Clone, Debug, Default)]
pub struct Headers<'a> {
    pub idempotency_key: Option<&'a str>,
    pub bearer: Option<&'a str>,
}

/// One keep-alive connection; `send` reconnects when the previous one broke.
pub struct Conn {
    authority: String,
    /// The local address to connect from; `None` lets the kernel pick.
    source: Option<std::net::IpAddr>,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub reconnects: u64,
}

impl Conn {
    pub fn new(authority: &str) -> Conn {
        Conn { authority: authority.to_string(), source: None, sender: None, reconnects: 0 }
    }

    /// A connection from a chosen local address, e.g. one of the many loopback
    /// addresses (127.0.0.0/8), so a server that limits per client IP sees many
    /// clients the way it would in the field.
    pub fn from_source(authority: &str, source: std::net::IpAddr) -> Conn {
        Conn { source: Some(source), ..Conn::new(authority) }
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let mut last = String::new();
        for attempt in 0..connect_attempts_max {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            match open(&self.authority, self.source).await {
                Ok(sender) => {
                    self.sender = Some(sender);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(Failure::Connect(last))
    }

    /// Sends one request and reads the whole reply. A broken connection is dropped
    /// so the next call reconnects; the caller decides whether to retry.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &Headers<'_>,
        body: Option<Bytes>,
    ) -> Result<Reply, Failure> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            if self.sender.is_some() {
                self.reconnects += 1;
            }
            self.sender = None;
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        if sender.ready().await.is_err() {
            self.sender = None;
            return Err(Failure::Io("connection closed before the request".into()));
        }
        let mut builder = Request::builder().method(method).uri(path).header(hyper::header::HOST, &self.authority);
        if let Some(key) = headers.idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(token) = headers.bearer {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder.body(Full::new(body.unwrap_or_default())).map_err(|e| Failure::Io(e.to_string()))?;
        let started = Instant::now();
        let exchange = async {
            let response = sender.send_request(request).await.map_err(|e| Failure::Io(e.to_string()))?;
            let status = response.status();
            let retry_after_secs = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = response.into_body().collect().await.map_err(|e| Failure::Io(e.to_string()))?.to_bytes();
            Ok::<_, Failure>((status, retry_after_secs, body))
        };
        match tokio::time::timeout(Duration::from_millis(request_timeout_ms), exchange).await {
            Ok(Ok((status, retry_after_secs, body))) => {
                Ok(Reply { status, retry_after_secs, body, latency: started.elapsed() })
            }
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                // The reply may still arrive on this connection; it cannot be reused.
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }
}

async fn open(authority: &str, source: Option<std::net::IpAddr>) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = match source {
        None => TcpStream::connect(authority).await.map_err(|e| format!("{authority}: {e}"))?,
        Some(source) => {
            let remote = tokio::net::lookup_host(authority)
                .await
                .map_err(|e| format!("{authority}: {e}"))?
                .find(|a| a.is_ipv4() == source.is_ipv4())
                .ok_or_else(|| format!("{authority}: no address of the family of {source}"))?;
            let socket = if source.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(|e| e.to_string())?;
            socket.bind(std::net::SocketAddr::new(source, 0)).map_err(|e| format!("bind {source}: {e}"))?;
            socket.connect(remote).await.map_err(|e| format!("{authority} from {source}: {e}"))?
        }
    };
    // Requests are small and latency is what we measure: do not let Nagle batch them.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    // The connection future drives the socket; it ends when the sender is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_authority_and_path_prefix() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.authority.as_str(), t.path.as_str()), ("127.0.0.1:8080", ""));
        let t = Target::parse("http://localhost/api/v1/demo/events/0/availability?x=1").unwrap();
        assert_eq!(t.authority, "localhost:80");
        assert_eq!(t.path, "/api/v1/demo/events/0/availability?x=1");
    }

    #[test]
    fn a_tls_or_schemeless_url_is_refused_with_a_reason() {
        assert!(Target::parse("https://example.org").unwrap_err().contains("scheme https"));
        assert!(Target::parse("127.0.0.1:8080/x").is_err());
    }
}
