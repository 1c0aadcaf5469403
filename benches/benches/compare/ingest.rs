//! Ingest of new messages: decode + insert through the engine and through the bare API, and
//! insert alone, with `u32` and ed25519 peers, beside the actor and a bare map.

use crate::harness::*;

impl Bench {
    /// Ingest of new messages: through the receive path (decode + insert) and `insert` alone,
    /// with `u32` and with ed25519 peer keys (the actor always has ed25519 keys; the limit has
    /// no peers).
    pub(crate) async fn ingest(&mut self) {
        let count = if self.opts.quick { 20_000 } else { 100_000 };
        for len in [32usize, 1024] {
            for peers in [4usize, 32] {
                let frames = Arc::new(frames(peers, count, len, 1));
                for &threads in &self.opts.threads.clone() {
                    let runs = self.opts.runs;
                    let s = repeat(runs, || {
                        receive_shardcast::<u32>(peers, threads, frames.clone())
                    })
                    .await;
                    let s_ed = repeat(runs, || {
                        receive_shardcast::<ed25519::PublicKey>(peers, threads, frames.clone())
                    })
                    .await;
                    let mut a = Vec::new();
                    for _ in 0..runs {
                        let label = self.label();
                        a.push(receive_actor(&self.context, &label, peers, frames.clone()).await);
                    }
                    let l = repeat(runs, || receive_limit(peers, threads, frames.clone())).await;
                    // The bare API: each task decodes its share and calls `receive`, as the
                    // limit does on its map (no transport, no reader, no hand-off).
                    let b =
                        repeat(runs, || receive_bare::<u32>(peers, threads, frames.clone())).await;
                    let b_ed = repeat(runs, || {
                        receive_bare::<ed25519::PublicKey>(peers, threads, frames.clone())
                    })
                    .await;
                    let name =
                        format!("ingest decode+insert {len} B, {peers} peers, {threads} thr");
                    self.push_keyed(
                        name,
                        "msg/s",
                        Better::Higher,
                        [s, s_ed],
                        a.clone(),
                        l.clone(),
                    );
                    let name = format!(
                        "ingest decode+receive, bare API {len} B, {peers} peers, {threads} thr"
                    );
                    self.push_keyed(name, "msg/s", Better::Higher, [b, b_ed], a, l);
                    let blobs: Arc<Vec<(usize, Blob)>> = Arc::new(
                        frames
                            .iter()
                            .map(|(p, f)| {
                                (*p, Blob::decode(f.clone(), &BlobConfig::default()).unwrap())
                            })
                            .collect(),
                    );
                    let s = repeat(runs, || {
                        insert_shardcast::<u32>(peers, threads, blobs.clone())
                    })
                    .await;
                    let s_ed = repeat(runs, || {
                        insert_shardcast::<ed25519::PublicKey>(peers, threads, blobs.clone())
                    })
                    .await;
                    let l = repeat(runs, || insert_limit(peers, threads, blobs.clone())).await;
                    let name = format!("ingest insert only {len} B, {peers} peers, {threads} thr");
                    self.push_keyed(name, "msg/s", Better::Higher, [s, s_ed], Vec::new(), l);
                }
            }
        }
    }
}

pub(crate) async fn receive_shardcast<P: PeerKey>(
    peers: usize,
    workers: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let n = frames.len() as u64;
    let keys = peer_keys::<P>(peers + 1);
    let preloaded = frames
        .iter()
        .map(|(p, f)| (keys[p + 1].clone(), f.clone()))
        .collect();
    let node = Node::<P>::start(keys, 128, workers, preloaded);
    let give_up = Instant::now() + Duration::from_secs(120);
    while node.engine.stats().received < n {
        assert!(Instant::now() < give_up, "shardcast ingest stalled");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = n as f64 / node.started.elapsed().as_secs_f64();
    node.engine.shutdown().await;
    rate
}

/// Decode + `receive` on a bare buffer from `threads` tasks, each with the frames of its share
/// of the peers (as the engine routes them: a peer's deque is touched by one task).
pub(crate) async fn receive_bare<P: PeerKey>(
    peers: usize,
    threads: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let keys = Arc::new(peer_keys::<P>(peers + 1));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    rate(threads, frames.len(), |t| {
        let (buffer, frames, keys) = (buffer.clone(), frames.clone(), keys.clone());
        async move {
            for (p, frame) in frames.iter().filter(|(p, _)| p % threads == t) {
                let blob = Blob::decode(frame.clone(), &BlobConfig::default()).unwrap();
                black_box(buffer.receive(keys[p + 1].clone(), blob));
            }
        }
    })
    .await
}

pub(crate) async fn receive_actor(
    context: &commonware_runtime::tokio::Context,
    label: &str,
    peers: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let keys = actor::keys(peers + 1);
    let last = actor_digest(&frames.last().unwrap().1);
    let preloaded = frames
        .iter()
        .map(|(p, f)| (keys[p + 1].clone(), f.clone()))
        .collect();
    // The frames wait in its receiver; the engine takes them after its first peer-set update.
    let (actor, started) =
        Actor::start_preloaded(context, label, &keys, 128, frames.len() + 1, preloaded);
    let give_up = Instant::now() + Duration::from_secs(120);
    while actor.mailbox.get(last).await.is_none() {
        assert!(Instant::now() < give_up, "actor ingest stalled");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let rate = frames.len() as f64 / started.elapsed().as_secs_f64();
    actor.stop();
    rate
}

pub(crate) async fn receive_limit(
    peers: usize,
    threads: usize,
    frames: Arc<Vec<(usize, Bytes)>>,
) -> f64 {
    let map: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
    let window = 128 * peers / threads;
    rate(threads, frames.len(), |t| {
        let (mut windowed, frames) = (Windowed::new(map.clone(), window), frames.clone());
        async move {
            for (_, frame) in frames.iter().skip(t).step_by(threads) {
                windowed.insert(Blob::decode(frame.clone(), &BlobConfig::default()).unwrap());
            }
        }
    })
    .await
}

pub(crate) async fn insert_shardcast<P: PeerKey>(
    peers: usize,
    threads: usize,
    blobs: Arc<Vec<(usize, Blob)>>,
) -> f64 {
    let keys = Arc::new(peer_keys::<P>(peers));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    rate(threads, blobs.len(), |t| {
        let (buffer, blobs, keys) = (buffer.clone(), blobs.clone(), keys.clone());
        async move {
            for (p, blob) in blobs.iter().filter(|(p, _)| p % threads == t) {
                black_box(buffer.insert(keys[*p].clone(), blob.clone()));
            }
        }
    })
    .await
}

pub(crate) async fn insert_limit(
    peers: usize,
    threads: usize,
    blobs: Arc<Vec<(usize, Blob)>>,
) -> f64 {
    let map: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
    let window = 128 * peers / threads;
    rate(threads, blobs.len(), |t| {
        let (mut windowed, blobs) = (Windowed::new(map.clone(), window), blobs.clone());
        async move {
            for (_, blob) in blobs.iter().filter(|(p, _)| p % threads == t) {
                windowed.insert(blob.clone());
            }
        }
    })
    .await
}
