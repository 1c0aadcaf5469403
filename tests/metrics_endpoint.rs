//! The `/metrics` endpoint over real HTTP on 127.0.0.1: install, run traffic through two
//! engines on the simulated network, fetch, and find the counters with the right values.

use shardcast::net::sim::{Link, Network, SimConfig};
use shardcast::net::{Recipients, Sender as _};
use shardcast::{Blob, BlobConfig, Buffer, Config, Engine, EngineConfig, Message};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn fetch(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_receive_counters_over_http() {
    let server = shardcast::prometheus::serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert!(server.local_addr().ip().is_loopback());
    assert_ne!(server.local_addr().port(), 0);

    let network = Network::new(SimConfig::default());
    let (a_tx, a_rx) = network.register(0u32);
    let (b_tx, b_rx) = network.register(1u32);
    let (mut raw, _raw_rx) = network.register(2u32);
    network.link_all(Link::new(Duration::from_millis(5), Duration::ZERO, 1.0));
    network.track(0, vec![0, 1], vec![2]);
    let start = |id, tx, rx| {
        let buffer = Arc::new(Buffer::new(Config::new(16)).unwrap());
        let config = EngineConfig::new(BlobConfig::default());
        Engine::start(buffer, id, tx, rx, network.peer_sets(), config).unwrap()
    };
    let a = start(0, a_tx, a_rx);
    let b = start(1, b_tx, b_rx);

    raw.send(Recipients::One(1), vec![0xFF, 0x00].into(), false)
        .await
        .unwrap();
    let messages: Vec<Blob> = (0..3).map(|i| Blob::new(vec![i; 64])).collect();
    let subs: Vec<_> = messages
        .iter()
        .map(|m| b.buffer().subscribe(m.digest()))
        .collect();
    for m in &messages {
        a.broadcast(Recipients::All, m.clone()).await;
    }
    for sub in subs {
        tokio::time::timeout(Duration::from_secs(10), sub)
            .await
            .unwrap()
            .expect("the buffer is open");
    }
    // Counters are added once a frame is handled: wait until all four are.
    tokio::time::timeout(Duration::from_secs(10), async {
        while b.stats().invalid + b.stats().received < 4 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every frame is counted");
    // Facade counters reach the recorder in per-thread batches: hand over the rest.
    b.buffer().flush_metrics();

    let (status, body) = fetch(server.local_addr(), "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        value(&body, r#"shardcast_receive_total{status="Success"}"#),
        Some(3.0)
    );
    assert_eq!(
        value(&body, r#"shardcast_receive_total{status="Invalid"}"#),
        Some(1.0)
    );
    // Both nodes cache the three messages (A its own broadcasts): gauges sum over the buffers
    // sharing this recorder.
    assert_eq!(value(&body, "shardcast_cached"), Some(6.0));
    assert!(body.contains("# HELP shardcast_receive_total"));

    let (status, _) = fetch(server.local_addr(), "/other").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    a.shutdown().await;
    b.shutdown().await;
}
