//! `get` and `read`, hits and misses: throughput and per-call latency, at each task count.

use crate::harness::*;

impl Bench {
    /// `get` hits and misses: throughput and latency, at each thread count.
    pub(crate) async fn get(&mut self) {
        const CACHED: usize = 512;
        let blobs: Vec<Blob> = (0..CACHED as u64)
            .map(|i| Blob::new(payload(1, i, 32)))
            .collect();
        let hits: Arc<Vec<[u8; 32]>> = Arc::new(blobs.iter().map(Message::digest).collect());
        let misses: Arc<Vec<[u8; 32]>> = Arc::new(
            (0..CACHED as u64)
                .map(|i| Blob::new(payload(9, i, 32)).digest())
                .collect(),
        );

        let buffer = Arc::new(Buffer::<u32, Blob>::new(Config::new(CACHED)).unwrap());
        buffer.update_primary([1]);
        let limit: Arc<DashMap<[u8; 32], Blob>> = Arc::new(DashMap::new());
        for blob in &blobs {
            buffer.insert(1, blob.clone());
            limit.insert(blob.digest(), blob.clone());
        }
        let keys = actor::keys(2);
        let label = self.label();
        let actor = Actor::start(&self.context, &label, &keys, CACHED, CACHED + 1);
        for blob in &blobs {
            actor
                .frames
                .send((keys[1].clone(), blob.to_bytes()))
                .await
                .unwrap();
        }
        let last = ActorMessage(blobs[CACHED - 1].payload().to_vec());
        actor
            .mailbox
            .subscribe(commonware_cryptography::Digestible::digest(&last))
            .await
            .await
            .unwrap();
        let to_actor = |d: &[u8; 32]| commonware_cryptography::sha256::Digest::from(*d);
        let actor_hits: Arc<Vec<_>> = Arc::new(
            blobs
                .iter()
                .map(|b| {
                    commonware_cryptography::Digestible::digest(&ActorMessage(b.payload().to_vec()))
                })
                .collect(),
        );
        let actor_misses: Arc<Vec<_>> = Arc::new(misses.iter().map(to_actor).collect());

        for &threads in &self.opts.threads.clone() {
            for (kind, digests, actor_digests) in [
                ("hit", &hits, &actor_hits),
                ("miss", &misses, &actor_misses),
            ] {
                let d = self.duration();
                let runs = self.opts.runs;
                let s = lookups(runs, threads, d, &buffer, digests, |b, d| {
                    black_box(b.get(d));
                })
                .await;
                let a = repeat(runs, || {
                    let (mailbox, digests) = (actor.mailbox.clone(), actor_digests.clone());
                    throughput(threads, d, move |t, deadline| {
                        let (mailbox, digests) = (mailbox.clone(), digests.clone());
                        async move {
                            let mut n = t * 97;
                            while Instant::now() < deadline {
                                black_box(mailbox.get(digests[n % CACHED]).await);
                                n += 1;
                            }
                            (n - t * 97) as u64
                        }
                    })
                })
                .await;
                let l = lookups(runs, threads, d, &limit, digests, |m, d| {
                    black_box(m.get(d).map(|r| r.value().clone()));
                })
                .await;
                self.push(
                    format!("get {kind}, {threads} task(s)"),
                    "ops/s",
                    Better::Higher,
                    [s, a.clone(), l],
                );
                // `read`: the cached message lent to a closure, no clone (the limit: the same
                // closure on the bare map's guard). The actor has no such call: its `get`.
                let r = lookups(runs, threads, d, &buffer, digests, |b, d| {
                    black_box(b.read(d, |m| m.payload().len()));
                })
                .await;
                let l = lookups(runs, threads, d, &limit, digests, |m, d| {
                    black_box(m.get(d).map(|r| r.value().payload().len()));
                })
                .await;
                self.push(
                    format!("read {kind} (no clone), {threads} task(s)"),
                    "ops/s",
                    Better::Higher,
                    [r, a, l],
                );

                // Latency: every operation timed (the ~20 ns of two clock reads included).
                let samples = if self.opts.quick { 20_000 } else { 200_000 };
                let mut runs_p = [
                    [Vec::new(), Vec::new(), Vec::new()],
                    [Vec::new(), Vec::new(), Vec::new()],
                ];
                for _ in 0..runs {
                    let (b, dg) = (buffer.clone(), digests.clone());
                    let s = latencies(threads, move |t| {
                        let (b, dg) = (b.clone(), dg.clone());
                        async move {
                            (0..samples)
                                .map(|i| {
                                    let start = Instant::now();
                                    black_box(b.get(&dg[(i + t * 97) % CACHED]));
                                    start.elapsed().as_nanos() as u64
                                })
                                .collect()
                        }
                    })
                    .await;
                    let (m, dg) = (actor.mailbox.clone(), actor_digests.clone());
                    let a = latencies(threads, move |t| {
                        let (m, dg) = (m.clone(), dg.clone());
                        async move {
                            let mut out = Vec::with_capacity(samples / 10);
                            for i in 0..samples / 10 {
                                let start = Instant::now();
                                black_box(m.get(dg[(i + t * 97) % CACHED]).await);
                                out.push(start.elapsed().as_nanos() as u64);
                            }
                            out
                        }
                    })
                    .await;
                    let (lm, dg) = (limit.clone(), digests.clone());
                    let l = latencies(threads, move |t| {
                        let (lm, dg) = (lm.clone(), dg.clone());
                        async move {
                            (0..samples)
                                .map(|i| {
                                    let start = Instant::now();
                                    black_box(
                                        lm.get(&dg[(i + t * 97) % CACHED])
                                            .map(|r| r.value().clone()),
                                    );
                                    start.elapsed().as_nanos() as u64
                                })
                                .collect()
                        }
                    })
                    .await;
                    for (p, q) in [(0, 0.5), (1, 0.99)] {
                        runs_p[p][0].push(percentile(&s, q));
                        runs_p[p][1].push(percentile(&a, q));
                        runs_p[p][2].push(percentile(&l, q));
                    }
                }
                let [p50, p99] = runs_p;
                self.push(
                    format!("get {kind} p50, {threads} task(s)"),
                    "ns",
                    Better::Lower,
                    p50,
                );
                self.push(
                    format!("get {kind} p99, {threads} task(s)"),
                    "ns",
                    Better::Lower,
                    p99,
                );
            }
        }
        actor.stop();
    }
}

/// Lookups per second of `op` on `target` from `threads` tasks for `d`, `runs` times: each task
/// walks `digests` from its own offset, 64 calls between clock reads.
pub(crate) async fn lookups<T: Send + Sync + 'static>(
    runs: usize,
    threads: usize,
    d: Duration,
    target: &Arc<T>,
    digests: &Arc<Vec<[u8; 32]>>,
    op: fn(&T, &[u8; 32]),
) -> Vec<f64> {
    repeat(runs, || {
        let (target, digests) = (target.clone(), digests.clone());
        throughput(threads, d, move |t, deadline| {
            let (target, digests) = (target.clone(), digests.clone());
            async move {
                let mut n = t * 97;
                while Instant::now() < deadline {
                    for _ in 0..64 {
                        op(&target, &digests[n % digests.len()]);
                        n += 1;
                    }
                }
                (n - t * 97) as u64
            }
        })
    })
    .await
}
