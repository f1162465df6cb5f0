//! Turning a core wasm module built by wit-bindgen into a component.

use crate::LoadError;

/// Encodes a core module built with wit-bindgen (it carries its WIT in a custom section)
/// into a component, validating the result.
pub fn encode_component(module: &[u8]) -> Result<Vec<u8>, LoadError> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| LoadError::Encode(format!("{e:#}")))
}
