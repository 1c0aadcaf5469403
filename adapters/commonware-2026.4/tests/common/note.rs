//! A commonware message for the tests that run on commonware: its bytes, identified by their
//! SHA-256, encoded as commonware encodes a `Vec<u8>`.
#![allow(dead_code)]

use bytes::{Buf, BufMut};
use commonware_codec::{EncodeSize, Error as CodecError, RangeCfg, Read, ReadRangeExt, Write};
use commonware_cryptography::{Digestible, Hasher, Sha256, sha256};

/// A message: its digest is the SHA-256 of its bytes.
///
/// Cloning a note whose text starts with [`PANICS_ON_CLONE`] panics, so that tests can reach a
/// panic in user code on the engine's side; encoding and decoding it never clone it.
#[derive(Debug, PartialEq, Eq)]
pub struct Note(pub Vec<u8>);

/// The prefix of a note whose `Clone` panics.
pub const PANICS_ON_CLONE: &str = "panics on clone";

impl Clone for Note {
    fn clone(&self) -> Self {
        if self.0.starts_with(PANICS_ON_CLONE.as_bytes()) {
            panic!("cloned a note that panics on clone");
        }
        Self(self.0.clone())
    }
}

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

/// How many times each note (by its bytes) was encoded, for the tests that check where a
/// broadcast is encoded.
static ENCODES: std::sync::Mutex<Vec<(Vec<u8>, usize)>> = std::sync::Mutex::new(Vec::new());

/// How many times `note` was encoded so far.
pub fn encodes_of(note: &Note) -> usize {
    let encodes = ENCODES.lock().unwrap();
    encodes
        .iter()
        .find(|(bytes, _)| *bytes == note.0)
        .map_or(0, |(_, n)| *n)
}

impl Write for Note {
    fn write(&self, buf: &mut impl BufMut) {
        {
            let mut encodes = ENCODES.lock().unwrap();
            match encodes.iter_mut().find(|(bytes, _)| *bytes == self.0) {
                Some((_, n)) => *n += 1,
                None => encodes.push((self.0.clone(), 1)),
            }
        }
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
