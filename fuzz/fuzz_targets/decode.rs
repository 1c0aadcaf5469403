//! (a) Decoding arbitrary bytes: never panics, never allocates what a length prefix claims, and
//! whatever decodes re-encodes to exactly the input (no trailing bytes accepted).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shardcast::{Blob, BlobConfig, Codec};

fuzz_target!(|data: &[u8]| {
    let config = BlobConfig { max_payload: 4096 };
    if let Ok(blob) = Blob::decode(Bytes::copy_from_slice(data), &config) {
        assert!(blob.payload().len() <= config.max_payload);
        assert_eq!(&blob.to_bytes()[..], data, "decode accepted a non-canonical frame");
    }
});
