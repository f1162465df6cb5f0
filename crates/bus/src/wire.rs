//! The prost code generated from `proto/events/v1/events.proto` (package `postern.events.v1`).
//! The wire [`Envelope`] stays crate-private: callers use [`crate::Envelope`].

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/postern.events.v1.rs"));
