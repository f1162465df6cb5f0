//! Test plugin: exports `postern:rules/plugin@0.3.0`, which the host (it runs 0.2.0 and
//! 0.1.0) must refuse with a clear version error.

wit_bindgen::generate!({
    path: "wit",
    world: "rule",
});

struct Future;

impl exports::postern::rules::plugin::Guest for Future {
    fn describe() -> String {
        "test.wrong_version".to_owned()
    }

    fn evaluate(domain: String) -> Vec<String> {
        vec![format!("test.seen.{}", domain.len())]
    }
}

export!(Future);
