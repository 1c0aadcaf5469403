//! What the adapter's test files share: a commonware message, and engine inputs a test drives
//! by hand.
#![allow(dead_code, missing_docs)]

pub mod note;
pub mod scripted;
