//! The message the adapter's tests broadcast: a payload, identified by its SHA-256, decoded
//! within a `RangeCfg`. A type of the test's own, as a chain's block is of the chain's.

use commonware_codec::{Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadRangeExt, Write};
use commonware_cryptography::{Digested, Digestible, Hasher, Sha256, sha256::Digest};
use commonware_runtime::BufMut;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note(pub Vec<u8>);

impl Note {
    pub fn new(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }

    /// The note with its digest, as a broadcast takes it.
    pub fn digested(&self) -> Digested<Self> {
        Digested::precomputed(self.clone(), self.digest())
    }
}

impl Digestible for Note {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        Sha256::hash(&[&self.0])
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
    fn read_cfg(buf: &mut impl Buf, range: &Self::Cfg) -> Result<Self, CodecError> {
        Ok(Self(Vec::<u8>::read_range(buf, *range)?))
    }
}
