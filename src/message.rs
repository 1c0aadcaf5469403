//! What the buffer needs of the application's types: a [`Message`] that names itself with a
//! digest, and a [`Peer`] identity.

use std::fmt::Debug;
use std::hash::Hash;

/// A peer's identity: what every peer-keyed type of shardcast requires of `P`.
///
/// Implemented for every type with these bounds (`u32`, commonware's `ed25519::PublicKey`, ...):
/// there is nothing to implement. `Ord` must agree with `Eq` (`a.cmp(b) == Equal` exactly when
/// `a == b`) and `Hash` with both: the buffer's maps compare peers with `Ord`, which for key
/// types such as commonware's ed25519 public key is two orders of magnitude cheaper than their
/// `==` (a constant-time comparison of decompressed curve points). `Debug` names the peer in
/// logs and in the opt-in per-sender metric.
pub trait Peer: Clone + Eq + Ord + Hash + Debug + Send + Sync + 'static {}

impl<T: Clone + Eq + Ord + Hash + Debug + Send + Sync + 'static> Peer for T {}

/// A message that the buffer can cache, identified by its digest.
///
/// The digest is the message's identity: two messages with the same digest are the same message
/// to the buffer, which stores the first copy it caches and serves that copy to [`get`] callers
/// (subscribers woken by an insert receive the inserted copy). A digest should therefore cover
/// every field that matters to the application.
///
/// `digest` is always computed by the buffer itself (nothing about it is trusted from the
/// network) and always *before* any lock is taken, so it may be as expensive as a cryptographic
/// hash. It must be deterministic and must not call back into the buffer.
///
/// [`get`]: crate::Buffer::get
pub trait Message: Clone + Send + Sync + 'static {
    /// The digest type. Digests produced by a cryptographic hash are uniformly distributed; the
    /// buffer still hashes them with a keyed hasher, so that peers cannot grind digests that
    /// collide in one shard.
    type Digest: Copy + Eq + Ord + Hash + Debug + Send + Sync + 'static;

    /// Returns the digest that identifies this message.
    fn digest(&self) -> Self::Digest;

    /// The bytes this message occupies while cached: what a per-peer byte budget
    /// ([`Config::with_peer_bytes`](crate::Config::with_peer_bytes)) charges for it, and what
    /// [`Stats::cached_bytes`](crate::Stats::cached_bytes) adds up. Count what the message
    /// holds on the heap (a payload, a vector), not only its own size.
    ///
    /// Called once per insert, before any lock is taken; it must not panic and should be
    /// cheap. The default is `size_of::<Self>()`, right for messages that own no heap memory.
    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(feature = "engine")]
pub use wire::{Blob, BlobConfig, Codec, DecodeError, put_varint};

#[cfg(feature = "engine")]
mod wire {
    use super::Message;
    use bytes::{Buf, BufMut, Bytes, BytesMut};
    use sha2::{Digest as _, Sha256};
    use std::fmt;
    use thiserror::Error;

    /// Why a frame could not be decoded. Every variant is a rejection of network input: the
    /// engine counts it (`receive_total{status="Invalid"}`), logs it and carries on.
    ///
    /// Two errors compare equal when they are the same variant with the same values; two
    /// [`Codec`](Self::Codec) errors, when their messages are the same.
    #[derive(Debug, Error)]
    #[non_exhaustive]
    pub enum DecodeError {
        /// The frame ended before the value did.
        #[error("truncated: needed {needed} more bytes")]
        Truncated {
            /// Bytes missing.
            needed: usize,
        },
        /// The value decoded but bytes were left over.
        #[error("{0} trailing bytes after the value")]
        TrailingBytes(usize),
        /// A length prefix exceeds the configured bound (checked before anything is read).
        #[error("length {len} exceeds the configured maximum {max}")]
        TooLong {
            /// The claimed length.
            len: u64,
            /// The configured maximum.
            max: usize,
        },
        /// A length prefix is not a minimal LEB128 varint of at most 64 bits.
        #[error("malformed varint")]
        Varint,
        /// A type-specific rejection.
        #[error("invalid: {0}")]
        Invalid(&'static str),
        /// A rejection by a wrapped codec (e.g. commonware's), kept whole: it is the
        /// error's [`source`](std::error::Error::source).
        #[error("invalid: {0}")]
        Codec(#[source] crate::BoxedError),
    }

    impl PartialEq for DecodeError {
        fn eq(&self, other: &Self) -> bool {
            use DecodeError::*;
            match (self, other) {
                (Truncated { needed: a }, Truncated { needed: b }) => a == b,
                (TrailingBytes(a), TrailingBytes(b)) => a == b,
                (TooLong { len: a, max: m }, TooLong { len: b, max: n }) => (a, m) == (b, n),
                (Varint, Varint) => true,
                (Invalid(a), Invalid(b)) => a == b,
                (Codec(a), Codec(b)) => a.to_string() == b.to_string(),
                _ => false,
            }
        }
    }

    impl Eq for DecodeError {}

    /// The wire format of a message: the payload is exactly `encode`'s output, with no framing.
    ///
    /// `read` consumes one value from the front of `buf`; [`Codec::decode`] also rejects
    /// trailing bytes. Decoding is given untrusted input: it must return an error, never panic,
    /// and must bound every allocation by `config`, whatever lengths the input claims.
    pub trait Codec: Sized {
        /// Bounds on decoded values (maximum lengths and the like).
        type Config: Clone + Send + Sync + 'static;

        /// Appends the encoding of `self` to `buf`.
        fn encode(&self, buf: &mut BytesMut);

        /// Reads one value from the front of `buf`.
        fn read(buf: &mut Bytes, config: &Self::Config) -> Result<Self, DecodeError>;

        /// The encoding of `self` as one frame.
        fn to_bytes(&self) -> Bytes {
            let mut buf = BytesMut::new();
            self.encode(&mut buf);
            buf.freeze()
        }

        /// Decodes exactly one value from `frame`: trailing bytes are an error.
        fn decode(mut frame: Bytes, config: &Self::Config) -> Result<Self, DecodeError> {
            let value = Self::read(&mut frame, config)?;
            match frame.remaining() {
                0 => Ok(value),
                n => Err(DecodeError::TrailingBytes(n)),
            }
        }
    }

    /// Appends `value` as a LEB128 varint: the length prefix of [`Blob`]'s wire format (and of
    /// commonware's `Bytes` encoding), for transports and tests that build frames by hand.
    pub fn put_varint(buf: &mut BytesMut, mut value: u64) {
        while value >= 0x80 {
            buf.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        buf.put_u8(value as u8);
    }

    /// Reads a minimal LEB128 varint of at most 64 bits.
    pub(crate) fn get_varint(buf: &mut Bytes) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..10 {
            if !buf.has_remaining() {
                return Err(DecodeError::Truncated { needed: 1 });
            }
            let byte = buf.get_u8();
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err(DecodeError::Varint); // beyond 64 bits
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::Varint); // not minimal
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Varint)
    }

    /// Bounds for decoding a [`Blob`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct BlobConfig {
        /// Largest payload accepted, in bytes.
        pub max_payload: usize,
    }

    impl Default for BlobConfig {
        /// 1 MiB.
        fn default() -> Self {
            Self {
                max_payload: 1 << 20,
            }
        }
    }

    /// A ready-made message: an opaque [`Bytes`] payload identified by its SHA-256.
    ///
    /// Wire format: `varint(len) ‖ payload`. The digest is computed once, locally, when the
    /// blob is built or decoded (nothing about it comes from the wire), so [`Message::digest`]
    /// is free. Decoding is zero-copy: the payload shares the frame's buffer.
    #[derive(Clone, PartialEq, Eq, Hash)]
    pub struct Blob {
        payload: Bytes,
        digest: [u8; 32],
    }

    impl Blob {
        /// Wraps `payload`, hashing it.
        pub fn new(payload: impl Into<Bytes>) -> Self {
            let payload = payload.into();
            let digest = Sha256::digest(&payload).into();
            Self { payload, digest }
        }

        /// The payload.
        pub fn payload(&self) -> &Bytes {
            &self.payload
        }
    }

    impl Message for Blob {
        type Digest = [u8; 32];

        fn digest(&self) -> [u8; 32] {
            self.digest
        }

        /// The payload plus the blob's own fixed part (digest and `Bytes` handle).
        fn size(&self) -> usize {
            std::mem::size_of::<Self>() + self.payload.len()
        }
    }

    impl Codec for Blob {
        type Config = BlobConfig;

        fn encode(&self, buf: &mut BytesMut) {
            buf.reserve(10 + self.payload.len());
            put_varint(buf, self.payload.len() as u64);
            buf.put_slice(&self.payload);
        }

        fn read(buf: &mut Bytes, config: &BlobConfig) -> Result<Self, DecodeError> {
            let len = get_varint(buf)?;
            if len > config.max_payload as u64 {
                return Err(DecodeError::TooLong {
                    len,
                    max: config.max_payload,
                });
            }
            let len = len as usize;
            if buf.remaining() < len {
                return Err(DecodeError::Truncated {
                    needed: len - buf.remaining(),
                });
            }
            Ok(Self::new(buf.split_to(len)))
        }
    }

    impl fmt::Debug for Blob {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let short: String = self.digest[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            f.debug_struct("Blob")
                .field("digest", &format_args!("{short}…"))
                .field("len", &self.payload.len())
                .finish()
        }
    }

    #[cfg(all(test, not(loom)))]
    mod tests {
        use super::*;

        #[test]
        fn blob_round_trips_and_hashes_locally() {
            let blob = Blob::new(&b"hello"[..]);
            let frame = blob.to_bytes();
            assert_eq!(&frame[..], b"\x05hello");
            let decoded = Blob::decode(frame, &BlobConfig::default()).unwrap();
            assert_eq!(decoded, blob);
            assert_eq!(decoded.digest(), <[u8; 32]>::from(Sha256::digest(b"hello")));
        }

        #[test]
        fn malformed_frames_are_errors() {
            let config = BlobConfig { max_payload: 8 };
            let decode = |bytes: &'static [u8]| Blob::decode(Bytes::from_static(bytes), &config);
            assert_eq!(decode(b""), Err(DecodeError::Truncated { needed: 1 }));
            assert_eq!(decode(b"\xff"), Err(DecodeError::Truncated { needed: 1 }));
            assert_eq!(decode(b"\x03ab"), Err(DecodeError::Truncated { needed: 1 }));
            assert_eq!(decode(b"\x01ab"), Err(DecodeError::TrailingBytes(1)));
            assert_eq!(
                decode(b"\x09123456789"),
                Err(DecodeError::TooLong { len: 9, max: 8 })
            );
            // A claimed length of 2^63 is rejected before anything is read or allocated.
            assert_eq!(
                decode(b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
                Err(DecodeError::TooLong {
                    len: 1 << 63,
                    max: 8
                })
            );
            assert_eq!(decode(b"\x80\x00"), Err(DecodeError::Varint));
            assert_eq!(
                decode(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"),
                Err(DecodeError::Varint)
            );
        }

        #[test]
        fn varints_round_trip_at_the_edges() {
            for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
                let mut buf = BytesMut::new();
                put_varint(&mut buf, value);
                let mut bytes = buf.freeze();
                assert_eq!(get_varint(&mut bytes), Ok(value));
                assert!(bytes.is_empty());
            }
        }

        #[test]
        fn a_wrapped_codec_error_is_the_source() {
            use std::error::Error as _;
            let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad tag 7");
            let err = DecodeError::Codec(Box::new(inner));
            assert_eq!(err.to_string(), "invalid: bad tag 7");
            let source = err.source().expect("the codec's error is kept");
            assert!(source.downcast_ref::<std::io::Error>().is_some());
            assert_ne!(err, DecodeError::Varint);
        }
    }
}
