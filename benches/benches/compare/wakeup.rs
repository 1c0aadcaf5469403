//! From a frame reaching the receive path to its subscriber running: through the engine, by a
//! direct insert, through the actor, and a bare `oneshot`.

use crate::harness::*;

impl Bench {
    /// Subscribe, then deliver a frame to the receive path: latency until the subscriber runs.
    pub(crate) async fn wakeup(&mut self) {
        let rounds = if self.opts.quick { 300 } else { 2_000 };
        let frames = frames(1, rounds, 32, 7);
        let mut runs = [
            [Vec::new(), Vec::new(), Vec::new()],
            [Vec::new(), Vec::new(), Vec::new()],
        ];
        let mut runs_ed = [Vec::new(), Vec::new()];
        let mut runs_direct = [Vec::new(), Vec::new()];
        for run in 0..self.opts.runs {
            // shardcast: through its engine (reader -> worker -> insert -> wake).
            let lat = wakeup_shardcast::<u32>(&frames).await;
            runs[0][0].push(percentile(&lat, 0.5));
            runs[1][0].push(percentile(&lat, 0.99));
            let lat = wakeup_shardcast::<ed25519::PublicKey>(&frames).await;
            runs_ed[0].push(percentile(&lat, 0.5));
            runs_ed[1].push(percentile(&lat, 0.99));
            // The same without the engine: this task decodes and inserts, as a worker would.
            // Isolates the buffer's waiter slot from the receive path's hand-off.
            let lat = wakeup_direct(&frames).await;
            runs_direct[0].push(percentile(&lat, 0.5));
            runs_direct[1].push(percentile(&lat, 0.99));

            // actor: subscribe through the mailbox, deliver through its receiver.
            let keys = actor::keys(2);
            let label = format!("wake{run}");
            let actor = Actor::start(&self.context, &label, &keys, 128, 1024);
            let mut lat = Vec::with_capacity(rounds);
            for (_, frame) in &frames {
                let rx = actor.mailbox.subscribe(actor_digest(frame)).await;
                // A round trip behind the subscription: it is registered once this returns.
                let _ = actor
                    .mailbox
                    .get(commonware_cryptography::sha256::Digest::from([0; 32]))
                    .await;
                let waiter = tokio::spawn(async move {
                    rx.await.unwrap();
                    Instant::now()
                });
                settle().await;
                let start = Instant::now();
                actor
                    .frames
                    .send((keys[1].clone(), frame.clone()))
                    .await
                    .unwrap();
                lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
            }
            actor.stop();
            lat.sort_unstable();
            runs[0][1].push(percentile(&lat, 0.5));
            runs[1][1].push(percentile(&lat, 0.99));

            // limit: a bare oneshot hand-off.
            let mut lat = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                let waiter = tokio::spawn(async move {
                    rx.await.unwrap();
                    Instant::now()
                });
                settle().await;
                let start = Instant::now();
                tx.send(()).unwrap();
                lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
            }
            lat.sort_unstable();
            runs[0][2].push(percentile(&lat, 0.5));
            runs[1][2].push(percentile(&lat, 0.99));
        }
        let [p50_ed, p99_ed] = runs_ed;
        let [p50_direct, p99_direct] = runs_direct;
        for (q, [s, a, l], ed, direct) in [
            ("p50", runs[0].clone(), p50_ed, p50_direct),
            ("p99", runs[1].clone(), p99_ed, p99_direct),
        ] {
            let name = format!("subscribe wake-up {q}");
            self.push_keyed(
                name.clone(),
                "ns",
                Better::Lower,
                [s, ed],
                a.clone(),
                l.clone(),
            );
            let name = format!("{name}, direct insert");
            self.push(name, "ns", Better::Lower, [direct, a, l]);
        }
    }
}

/// Sorted latencies, ns, from pushing each frame into a shardcast engine's receiver (from its
/// second peer) to a task awaiting its subscription running.
pub(crate) async fn wakeup_shardcast<P: PeerKey>(frames: &[(usize, Bytes)]) -> Vec<u64> {
    // Made before timing: an ed25519 key costs tens of µs to derive.
    let keys = peer_keys::<P>(2);
    let sender = keys[1].clone();
    let node = Node::<P>::start(keys, 128, 1, Vec::new());
    let mut lat = Vec::with_capacity(frames.len());
    for (_, frame) in frames {
        let digest = Blob::decode(frame.clone(), &BlobConfig::default())
            .unwrap()
            .digest();
        let sub = node.engine.buffer().subscribe(digest);
        let waiter = tokio::spawn(async move {
            sub.await.expect("the buffer is open");
            Instant::now()
        });
        settle().await;
        let start = Instant::now();
        node.frames
            .send_async((sender.clone(), frame.clone()))
            .await
            .unwrap();
        lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
    }
    node.engine.shutdown().await;
    lat.sort_unstable();
    lat
}

/// Sorted latencies, ns, from this task decoding a frame and inserting it into a buffer (no
/// engine) to a task awaiting its subscription running.
pub(crate) async fn wakeup_direct(frames: &[(usize, Bytes)]) -> Vec<u64> {
    let buffer = Arc::new(Buffer::<u32, Blob>::new(Config::new(128)).unwrap());
    buffer.update_primary([1]);
    let mut lat = Vec::with_capacity(frames.len());
    for (_, frame) in frames {
        let digest = Blob::decode(frame.clone(), &BlobConfig::default())
            .unwrap()
            .digest();
        let sub = buffer.subscribe(digest);
        let waiter = tokio::spawn(async move {
            sub.await.expect("the buffer is open");
            Instant::now()
        });
        settle().await;
        let start = Instant::now();
        let blob = Blob::decode(frame.clone(), &BlobConfig::default()).unwrap();
        buffer.insert(1, blob);
        lat.push((waiter.await.unwrap() - start).as_nanos() as u64);
    }
    lat.sort_unstable();
    lat
}
