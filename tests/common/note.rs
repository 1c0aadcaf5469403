//! A commonware message for the tests that run on commonware: its bytes, identified by their
//! SHA-256, encoded as commonware encodes a `Vec<u8>`.
#![allow(dead_code)]

use bytes::{Buf, BufMut};
use shardcast::commonware::codec::{
    EncodeSize, Error as CodecError, RangeCfg, Read, ReadRangeExt, Write,
};
use shardcast::commonware::cryptography::{Digestible, Hasher, Sha256, sha256};

/// A message: its digest is the SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(pub Vec<u8>);

impl Note {
    /// A note holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into().into_bytes())
    }
}

impl Digestible for Note {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        Sha256::hash(&self.0)
    }
}

impl Write for Note {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for Note {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for Note {
    type Cfg = RangeCfg<usize>;
    fn read_cfg(buf: &mut impl Buf, cfg: &Self::Cfg) -> Result<Self, CodecError> {
        Ok(Self(Vec::<u8>::read_range(buf, *cfg)?))
    }
}
