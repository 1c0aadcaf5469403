//! A `/metrics` endpoint: installs a `metrics-exporter-prometheus` recorder and serves its text
//! format over HTTP.
//!
//! Call [`serve`] before building any [`Buffer`](crate::Buffer) (handles bind to the recorder
//! installed when they are registered). The server speaks just enough HTTP/1.1 for a scraper:
//! `GET /metrics` answers the rendered metrics, anything else 404; one request per connection,
//! requests over 8 KiB or slower than 5 s are dropped.
//!
//! ```
//! use shardcast::{Blob, Buffer, Config};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = shardcast::prometheus::serve("127.0.0.1:0".parse()?).await?; // before any buffer
//! let buffer: Buffer<u32, Blob> = Buffer::new(Config::new(8))?;
//! buffer.update_primary([1]);
//! buffer.insert(1, Blob::new(&b"a block"[..]));
//! // What a scraper of http://{server.local_addr()}/metrics reads:
//! assert!(server.render().contains("shardcast_cached 1"));
//! # Ok(())
//! # }
//! ```

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::debug;

/// Why the endpoint could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Another global `metrics` recorder is already installed.
    #[error("a global metrics recorder is already installed")]
    RecorderInstalled,
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running `/metrics` endpoint. Dropping it stops the server (the recorder stays installed).
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    handle: PrometheusHandle,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// The address it listens on (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics as the endpoint would serve them now.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Installs a Prometheus recorder as the global `metrics` recorder and serves it on `addr`.
/// Must be called within a tokio runtime.
pub async fn serve(addr: SocketAddr) -> Result<MetricsServer, ServeError> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    metrics::set_global_recorder(recorder).map_err(|_| ServeError::RecorderInstalled)?;
    let task = tokio::spawn(accept(listener, handle.clone()));
    Ok(MetricsServer {
        addr: local,
        handle,
        task,
    })
}

async fn accept(listener: TcpListener, handle: PrometheusHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let answered =
                        tokio::time::timeout(Duration::from_secs(5), answer(stream, &handle)).await;
                    if !matches!(answered, Ok(Ok(()))) {
                        debug!(%peer, "metrics request dropped");
                    }
                });
            }
            Err(err) => {
                debug!(%err, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    const MAX_REQUEST: usize = 8 * 1024;
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || request.len() + n > MAX_REQUEST {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => ("200 OK", handle.render()),
        _ => ("404 Not Found", "not found\n".to_owned()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
