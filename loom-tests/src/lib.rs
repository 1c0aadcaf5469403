//! Loom model-checking suite for shardcast (see README.md).
