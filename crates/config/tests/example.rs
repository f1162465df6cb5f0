//! The shipped example configuration must load and say what it claims.

use postern_config::{LogFormat, load};
use std::path::Path;

#[test]
fn example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("postern.example.toml");
    let c = load(Some(&path), Vec::new()).unwrap();
    assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.telemetry.log_format, LogFormat::Pretty);
    assert_eq!(c.database.url, None);
}
