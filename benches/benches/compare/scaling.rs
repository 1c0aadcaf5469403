//! Per-insert cost as the deque and the peer count grow: new messages and duplicates.

use crate::harness::*;

impl Bench {
    /// Per-insert cost as the deque and the peer count grow: new messages and duplicates.
    pub(crate) async fn scaling(&mut self) {
        let configs: Vec<(usize, usize)> = [16, 128, 1024, 8192]
            .iter()
            .map(|d| (*d, 4))
            .chain([(128, 32), (128, 256)])
            .collect();
        let measured = if self.opts.quick { 10_000 } else { 50_000 };
        for (deque, peers) in configs {
            let fill = deque * peers;
            let all = frames(peers, fill + measured, 32, 11);
            let blobs: Vec<(usize, Blob)> = all
                .iter()
                .map(|(p, f)| (*p, Blob::decode(f.clone(), &BlobConfig::default()).unwrap()))
                .collect();
            // Duplicates: each peer's deque contents, oldest first (the actor scans to the end).
            let dups: Vec<(usize, Blob)> = (0..measured)
                .map(|i| {
                    let peer = i % peers;
                    let slot = (i / peers) % deque;
                    blobs[slot * peers + peer].clone()
                })
                .collect();
            let mut s_new = Vec::new();
            let mut s_dup = Vec::new();
            let mut e_new = Vec::new();
            let mut e_dup = Vec::new();
            let mut a_new = Vec::new();
            let mut a_dup = Vec::new();
            for _ in 0..self.opts.runs {
                let (fresh, dup) =
                    scaling_shardcast::<u32>(deque, peers, &blobs[..fill], &blobs[fill..], &dups);
                s_new.push(fresh);
                s_dup.push(dup);
                let (fresh, dup) = scaling_shardcast::<ed25519::PublicKey>(
                    deque,
                    peers,
                    &blobs[..fill],
                    &blobs[fill..],
                    &dups,
                );
                e_new.push(fresh);
                e_dup.push(dup);

                let label = self.label();
                a_new.push(
                    actor_per_frame(
                        &self.context,
                        &label,
                        peers,
                        deque,
                        &all[..fill],
                        &all[fill..],
                    )
                    .await,
                );
                let label = self.label();
                let dup_frames: Vec<(usize, Bytes)> =
                    dups.iter().map(|(p, b)| (*p, b.to_bytes())).collect();
                a_dup.push(
                    actor_per_frame(
                        &self.context,
                        &label,
                        peers,
                        deque,
                        &all[..fill],
                        &dup_frames,
                    )
                    .await,
                );
            }
            let name = format!("deque {deque}, {peers} peers");
            self.scaling.push((
                format!("new, {peers} peers"),
                deque,
                stat(s_new.clone()).median,
                stat(a_new.clone()).median,
            ));
            self.scaling.push((
                format!("duplicate, {peers} peers"),
                deque,
                stat(s_dup.clone()).median,
                stat(a_dup.clone()).median,
            ));
            let none = Vec::new;
            let new = format!("insert new: {name}");
            self.push_keyed(new, "ns/msg", Better::Lower, [s_new, e_new], a_new, none());
            let dup = format!("insert duplicate: {name}");
            self.push_keyed(dup, "ns/msg", Better::Lower, [s_dup, e_dup], a_dup, none());
        }
    }
}

/// ns per insert into a buffer of `peers` deques of `deque`, after `fill`: of `new` messages,
/// and (on a buffer refilled the same way) of `dups`.
pub(crate) fn scaling_shardcast<P: PeerKey>(
    deque: usize,
    peers: usize,
    fill: &[(usize, Blob)],
    new: &[(usize, Blob)],
    dups: &[(usize, Blob)],
) -> (f64, f64) {
    let keys = peer_keys::<P>(peers);
    let filled = || {
        let buffer = Buffer::<P, Blob>::new(Config::new(deque)).unwrap();
        buffer.update_primary(keys.iter().cloned());
        for (p, b) in fill {
            buffer.insert(keys[*p].clone(), b.clone());
        }
        buffer
    };
    let time = |buffer: Buffer<P, Blob>, blobs: &[(usize, Blob)]| {
        let start = Instant::now();
        for (p, b) in blobs {
            black_box(buffer.insert(keys[*p].clone(), b.clone()));
        }
        start.elapsed().as_nanos() as f64 / blobs.len() as f64
    };
    (time(filled(), new), time(filled(), dups))
}

/// ns per frame for the actor: fill its deques with `fill`, then time `measured`.
pub(crate) async fn actor_per_frame(
    context: &commonware_runtime::tokio::Context,
    label: &str,
    peers: usize,
    deque: usize,
    fill: &[(usize, Bytes)],
    measured: &[(usize, Bytes)],
) -> f64 {
    let keys = actor::keys(peers + 1);
    let actor = Actor::start(
        context,
        label,
        &keys,
        deque,
        fill.len() + measured.len() + 2,
    );
    let marker = |i: u64| Blob::new(payload(u32::MAX, i, 32));
    // A fill, then a marker from our own key (cached: we are primary) to know it is done.
    for (p, f) in fill {
        actor
            .frames
            .try_send((keys[p + 1].clone(), f.clone()))
            .unwrap();
    }
    let m0 = marker(0);
    actor
        .frames
        .try_send((keys[0].clone(), m0.to_bytes()))
        .unwrap();
    let d0 = commonware_cryptography::Digestible::digest(&ActorMessage(m0.payload().to_vec()));
    actor.mailbox.subscribe(d0).await.await.unwrap();
    let m1 = marker(1);
    let d1 = commonware_cryptography::Digestible::digest(&ActorMessage(m1.payload().to_vec()));
    let done = actor.mailbox.subscribe(d1).await;
    let _ = actor.mailbox.get(d0).await; // the subscription is registered
    let start = Instant::now();
    for (p, f) in measured {
        actor
            .frames
            .try_send((keys[p + 1].clone(), f.clone()))
            .unwrap();
    }
    actor
        .frames
        .try_send((keys[0].clone(), m1.to_bytes()))
        .unwrap();
    done.await.unwrap();
    let ns = start.elapsed().as_nanos() as f64 / measured.len() as f64;
    actor.stop();
    ns
}
