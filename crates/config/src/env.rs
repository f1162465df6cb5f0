//! The environment layer: `POSTERN__SECTION__KEY=value` pairs handed in by the caller.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Environment variables that configure Postern start with this; `__` separates the
/// section from the key (`POSTERN__DATABASE__URL`, `POSTERN__HTTP__LISTEN`).
pub const ENV_PREFIX: &str = "POSTERN__";
const SEPARATOR: &str = "__";

/// A figment provider over the variables passed to [`crate::load`], not the process
/// environment.
///
/// Names are matched case-insensitively and lowercased into keys. Values stay strings
/// (numbers and booleans are converted when the target field asks for one), except a
/// value written as a list, `[a, b]`, which becomes a list. An empty value counts as
/// unset, so `POSTERN__DATABASE__URL=` in a compose file falls back to the default.
pub(crate) struct EnvLayer {
    vars: Vec<(String, String)>,
}

impl EnvLayer {
    pub(crate) fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = env
            .into_iter()
            .filter(|(name, value)| {
                !value.is_empty()
                    && name
                        .get(..ENV_PREFIX.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
            })
            .collect();
        Self { vars }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_, keys| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{ENV_PREFIX}{}", keys.join(SEPARATOR))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut root = Dict::new();
        for (name, value) in &self.vars {
            let path: Vec<String> = name[ENV_PREFIX.len()..]
                .split(SEPARATOR)
                .map(str::to_ascii_lowercase)
                .collect();
            if path.iter().any(String::is_empty) {
                return Err(Error::from(format!(
                    "malformed environment variable name {name}: expected {ENV_PREFIX}SECTION__KEY"
                )));
            }
            insert(&mut root, &path, parse(value));
        }
        Ok(Map::from([(Profile::Default, root)]))
    }
}

/// Puts `value` at `path`, making the sections on the way.
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [key] => {
            dict.insert(key.clone(), value);
        }
        [section, rest @ ..] => {
            let entry = dict
                .entry(section.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

fn parse(value: &str) -> Value {
    let trimmed = value.trim();
    if trimmed.starts_with('[')
        && trimmed.ends_with(']')
        && let Ok(parsed @ Value::Array(..)) = trimmed.parse::<Value>()
    {
        return parsed;
    }
    Value::from(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(vars: &[(&str, &str)]) -> Dict {
        let env = EnvLayer::new(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env.data().unwrap().remove(&Profile::Default).unwrap()
    }

    #[test]
    fn nests_on_double_underscore_and_lowercases() {
        let d = layer(&[
            ("POSTERN__HTTP__LISTEN", "0.0.0.0:80"),
            ("postern__Http__GraphiQL", "false"),
            ("POSTERN__DATA_DIR", "/srv"),
            ("POSTERN_TEST_DATABASE_URL", "ignored"),
            ("HOME", "/root"),
        ]);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d["data_dir"], Value::from("/srv".to_string()));
        let http = d["http"].as_dict().unwrap();
        assert_eq!(http["listen"], Value::from("0.0.0.0:80".to_string()));
        assert_eq!(http["graphiql"], Value::from("false".to_string()));
    }

    #[test]
    fn bracketed_values_become_lists_and_bracketed_addresses_stay_strings() {
        let d = layer(&[
            ("POSTERN__ANALYSIS__NAMESERVERS", "[1.1.1.1:53, 9.9.9.9:53]"),
            ("POSTERN__HTTP__LISTEN", "[::1]:8080"),
        ]);
        let ns = d["analysis"].as_dict().unwrap()["nameservers"]
            .as_array()
            .unwrap();
        assert_eq!(ns.len(), 2);
        assert_eq!(
            d["http"].as_dict().unwrap()["listen"],
            Value::from("[::1]:8080".to_string())
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert!(layer(&[("POSTERN__DATABASE__URL", "")]).is_empty());
    }

    #[test]
    fn empty_name_segments_are_an_error() {
        let env = EnvLayer::new([("POSTERN__HTTP____LISTEN".to_string(), "x".to_string())]);
        assert!(env.data().is_err());
    }
}
