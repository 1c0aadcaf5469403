//! Two ingest tasks and two `get` tasks at once: total operations and `get` p99.

use crate::harness::*;

impl Bench {
    /// 2 ingest sources and 2 `get` callers at once: total ops/s and `get` p99.
    pub(crate) async fn mixed(&mut self) {
        const CACHED: usize = 512;
        let d = self.duration();
        let pool = Arc::new(frames(
            4,
            if self.opts.quick { 100_000 } else { 400_000 },
            32,
            3,
        ));
        let mut total = [Vec::new(), Vec::new(), Vec::new()];
        let mut p99 = [Vec::new(), Vec::new(), Vec::new()];
        let (mut total_ed, mut p99_ed) = (Vec::new(), Vec::new());
        for _ in 0..self.opts.runs {
            // shardcast: ingest tasks decode and `receive` directly (as receive workers do).
            let (ops, lat) = mixed_shardcast::<u32>(d, pool.clone()).await;
            total[0].push(ops);
            p99[0].push(lat);
            let (ops, lat) = mixed_shardcast::<ed25519::PublicKey>(d, pool.clone()).await;
            total_ed.push(ops);
            p99_ed.push(lat);

            // actor: ingest tasks push frames into its receiver; get through the mailbox.
            let keys = actor::keys(5);
            let label = self.label();
            let actor = Actor::start(&self.context, &label, &keys, CACHED, 1024);
            let hot: Vec<ActorMessage> = (0..CACHED as u64)
                .map(|i| ActorMessage(payload(9, i, 32)))
                .collect();
            for m in &hot {
                let frame = Blob::new(m.0.clone()).to_bytes();
                actor.frames.send((keys[0].clone(), frame)).await.unwrap();
            }
            let last = commonware_cryptography::Digestible::digest(&hot[CACHED - 1]);
            actor.mailbox.subscribe(last).await.await.unwrap();
            let hot: Arc<Vec<_>> = Arc::new(
                hot.iter()
                    .map(commonware_cryptography::Digestible::digest)
                    .collect(),
            );
            let frames_tx = actor.frames.clone();
            let (ops, lat) = mixed_run_async(d, pool.clone(), keys.clone(), frames_tx, {
                let mailbox = actor.mailbox.clone();
                move |i| {
                    let mailbox = mailbox.clone();
                    let hot = hot.clone();
                    async move { black_box(mailbox.get(hot[i % CACHED]).await).is_some() }
                }
            })
            .await;
            actor.stop();
            total[1].push(ops);
            p99[1].push(lat);

            // limit: decode and insert into a bare DashMap.
            let limit: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
            let hot: Vec<Blob> = (0..CACHED as u64)
                .map(|i| Blob::new(payload(9, i, 32)))
                .collect();
            for b in &hot {
                limit.insert(b.digest(), b.clone());
            }
            let hot: Arc<Vec<[u8; 32]>> = Arc::new(hot.iter().map(Message::digest).collect());
            let (ops, lat) = mixed_run(
                d,
                pool.clone(),
                {
                    let limit = limit.clone();
                    move |_, frame: Bytes| {
                        let blob = Blob::decode(frame, &BlobConfig::default()).unwrap();
                        limit.insert(blob.digest(), blob);
                    }
                },
                {
                    let limit = limit.clone();
                    move |i| {
                        let limit = limit.clone();
                        let hot = hot.clone();
                        async move {
                            black_box(limit.get(&hot[i % CACHED]).map(|r| r.value().clone()))
                                .is_some()
                        }
                    }
                },
            )
            .await;
            total[2].push(ops);
            p99[2].push(lat);
        }
        let [s, a, l] = total;
        let name = "mixed 2 ingest + 2 get: total";
        self.push_keyed(name.into(), "ops/s", Better::Higher, [s, total_ed], a, l);
        let [s, a, l] = p99;
        let name = "mixed 2 ingest + 2 get: get p99";
        self.push_keyed(name.into(), "ns", Better::Lower, [s, p99_ed], a, l);
    }
}

/// The mixed scenario on shardcast, with peer keys `P`: 2 ingest tasks decode and `receive`
/// (as receive workers do) from the 4 peers of `pool`, beside 2 tasks reading 512 hot digests.
pub(crate) async fn mixed_shardcast<P: PeerKey>(
    d: Duration,
    pool: Arc<Vec<(usize, Bytes)>>,
) -> (f64, f64) {
    const CACHED: usize = 512;
    let keys = Arc::new(peer_keys::<P>(5));
    let buffer = Arc::new(Buffer::<P, Blob>::new(Config::new(CACHED)).unwrap());
    buffer.update_primary(keys.iter().cloned());
    let hot: Vec<Blob> = (0..CACHED as u64)
        .map(|i| Blob::new(payload(9, i, 32)))
        .collect();
    for b in &hot {
        buffer.insert(keys[0].clone(), b.clone());
    }
    let hot: Arc<Vec<[u8; 32]>> = Arc::new(hot.iter().map(Message::digest).collect());
    mixed_run(
        d,
        pool,
        {
            let buffer = buffer.clone();
            move |peer, frame: Bytes| {
                let blob = Blob::decode(frame, &BlobConfig::default()).unwrap();
                buffer.receive(keys[peer + 1].clone(), blob);
            }
        },
        move |i| {
            let buffer = buffer.clone();
            let hot = hot.clone();
            async move { black_box(buffer.get(&hot[i % CACHED])).is_some() }
        },
    )
    .await
}

/// Runs 2 ingest tasks (`ingest`, synchronous) and 2 get tasks (`get`, timed) for `d`.
pub(crate) async fn mixed_run<I, G, Fut>(
    d: Duration,
    pool: Arc<Vec<(usize, Bytes)>>,
    ingest: I,
    get: G,
) -> (f64, f64)
where
    I: Fn(usize, Bytes) + Clone + Send + Sync + 'static,
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + d;
    let start = Instant::now();
    let ingesters: Vec<_> = (0..2)
        .map(|t| {
            let (pool, ingest) = (pool.clone(), ingest.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                // Round and round: by the time a frame comes again its sender's deque has
                // evicted it, so it is a new insert, and no side runs out of frames.
                for (peer, frame) in pool.iter().skip(t).step_by(2).cycle() {
                    if n.is_multiple_of(64) {
                        if Instant::now() >= deadline {
                            break;
                        }
                        // A synchronous loop never yields on its own: it would hold its thread
                        // to the deadline, and the `get` tasks would not run beside it.
                        tokio::task::yield_now().await;
                    }
                    ingest(*peer, frame.clone());
                    n += 1;
                }
                n
            })
        })
        .collect();
    finish_mixed(start, deadline, ingesters, get, || 0).await
}

/// `mixed_run` for the actor: ingest means pushing frames into its receiver.
pub(crate) async fn mixed_run_async<G, Fut>(
    d: Duration,
    pool: Arc<Vec<(usize, Bytes)>>,
    keys: Vec<actor::PublicKey>,
    frames: tokio::sync::mpsc::Sender<(actor::PublicKey, Bytes)>,
    get: G,
) -> (f64, f64)
where
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + d;
    let start = Instant::now();
    let ingesters: Vec<_> = (0..2)
        .map(|t| {
            let (pool, keys, frames) = (pool.clone(), keys.clone(), frames.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                for (peer, frame) in pool.iter().skip(t).step_by(2).cycle() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    frames
                        .send((keys[peer + 1].clone(), frame.clone()))
                        .await
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Frames still queued in the engine's channel at the end were pushed but not ingested.
    let queued = move || (frames.max_capacity() - frames.capacity()) as u64;
    finish_mixed(start, deadline, ingesters, get, queued).await
}

/// Runs 2 timed `get` tasks until `deadline` beside the running `ingesters`, joins them all,
/// and returns (operations per second, less the `not_done()` ingests counted after the joins;
/// `get` p99 in ns).
pub(crate) async fn finish_mixed<G, Fut>(
    start: Instant,
    deadline: Instant,
    ingesters: Vec<tokio::task::JoinHandle<u64>>,
    get: G,
    not_done: impl FnOnce() -> u64,
) -> (f64, f64)
where
    G: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let getters: Vec<_> = (0..2)
        .map(|t| {
            let get = get.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = t * 101;
                while Instant::now() < deadline {
                    let s = Instant::now();
                    get(i).await;
                    lat.push(s.elapsed().as_nanos() as u64);
                    i += 1;
                    // A `get` that is ready at once never yields: without this, two `get`
                    // tasks would hold both threads and nothing would be ingested.
                    if lat.len().is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                lat
            })
        })
        .collect();
    let mut ops = 0u64;
    for h in ingesters {
        ops += h.await.unwrap();
    }
    let mut lat = Vec::new();
    for h in getters {
        lat.extend(h.await.unwrap());
    }
    let ingested = ops.saturating_sub(not_done());
    // Both kinds of work ran: a run where one starves the other measures that one alone.
    assert!(
        ingested >= 1_000 && lat.len() >= 100,
        "mixed load did not mix ({ingested} frames ingested, {} gets)",
        lat.len()
    );
    ops = ingested + lat.len() as u64;
    lat.sort_unstable();
    (
        ops as f64 / start.elapsed().as_secs_f64(),
        percentile(&lat, 0.99),
    )
}
