//! The committed SDL (`proto/graphql/schema.graphql`) must match the schema. Run with
//! `UPDATE_SCHEMA=1` to rewrite the file after an intended change, and review the diff.

use std::path::PathBuf;

#[test]
fn committed_sdl_matches_the_schema() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/graphql/schema.graphql");
    let sdl = postern_graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_SCHEMA=1 to create it",
            path.display()
        )
    });
    assert!(
        committed == sdl,
        "the schema drifted from {}; run `UPDATE_SCHEMA=1 cargo test -p postern-graphql --test schema_snapshot` and commit the diff",
        path.display()
    );
}

#[test]
fn every_type_field_and_argument_is_documented() {
    let sdl = postern_graphql::sdl();
    let mut undocumented = Vec::new();
    let mut in_doc = false;
    let mut documented = false;
    let mut in_schema_block = false;
    for line in sdl.lines() {
        let trimmed = line.trim();
        if trimmed == "\"\"\"" {
            in_doc = !in_doc;
            documented = !in_doc;
            continue;
        }
        if in_doc || trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('"') && trimmed.ends_with('"') {
            documented = true; // a one-line description
            continue;
        }
        if trimmed.starts_with("schema {") {
            in_schema_block = true;
        }
        let needs_doc = !in_schema_block
            && !trimmed.starts_with('}')
            && !trimmed.starts_with(')')
            && !trimmed.starts_with("directive ");
        if needs_doc && !documented {
            undocumented.push(trimmed.to_owned());
        }
        if in_schema_block && trimmed == "}" {
            in_schema_block = false;
        }
        documented = false;
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}
