//! The catalogue of lists: what each list is, where it answers, what its return codes
//! mean, and how hard it may be asked. The built-in catalogue is `catalogue.toml` (embedded);
//! each MSP's overrides (stored in the database) add, disable or edit lists and supply the
//! keys of DQS-style keyed zones.

use crate::error::BlocklistError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// The built-in catalogue, embedded at build time.
const BUILTIN: &str = include_str!("catalogue.toml");

/// Placeholder of the key in a keyed zone template.
const KEY_PLACEHOLDER: &str = "{key}";

/// What a list lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// IP addresses that send spam or abuse (a DNSBL); being listed is bad.
    Dnsbl,
    /// IP addresses vouched for (a DNSWL); being listed is good.
    Dnswl,
    /// Domain names (RHSBL, URI lists such as DBL, SURBL, URIBL); being listed is bad.
    Domain,
}

/// How hard a list may be asked: a token bucket of `burst` queries refilled at
/// `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Queries per minute in the long run (at least 1).
    pub per_minute: u32,
    /// Queries that may be sent at once after a quiet period (at least 1).
    pub burst: u32,
}

/// One return code (or range, or bit) of a list and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCode", into = "RawCode")]
pub struct ReturnCode {
    /// First address of the range (the code itself when it is one address).
    pub from: Ipv4Addr,
    /// Last address of the range.
    pub to: Ipv4Addr,
    /// When set, an answer matches when `answer & mask == from & mask` (bit-coded lists
    /// such as SURBL and URIBL, or one octet of DNSWL's answers); `to` is then unused.
    pub mask: Option<Ipv4Addr>,
    /// What the code means, in the list's own words.
    pub meaning: String,
    /// The code is the list refusing to answer (query blocked, key or resolver refused):
    /// the target's state is unknown, never listed and never clear.
    pub refusal: bool,
}

/// The written form of a [`ReturnCode`]: `code = "127.0.0.2"` or `"127.0.0.4-127.0.0.7"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCode {
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mask: Option<Ipv4Addr>,
    meaning: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    refusal: bool,
}

/// A secret key of a keyed zone (Spamhaus DQS). Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ListKey(String);

/// One list, as the monitor uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocklist {
    /// Stable id (`spamhaus-zen`), unique in a catalogue.
    pub id: String,
    /// Name for people.
    pub name: String,
    /// The public zone queried (`zen.spamhaus.org`).
    pub zone: String,
    /// What it lists.
    pub kind: ListKind,
    /// IP lists: answers IPv4 queries.
    #[serde(default = "yes")]
    pub ipv4: bool,
    /// IP lists: answers IPv6 queries (RFC 5782 nibble form).
    #[serde(default)]
    pub ipv6: bool,
    /// The return codes and their meanings.
    #[serde(default)]
    pub codes: Vec<ReturnCode>,
    /// The list answers only under a keyed zone: without a key it is not queried.
    #[serde(default)]
    pub key_required: bool,
    /// Template of the keyed zone, `{key}` standing for the key
    /// (`{key}.zen.dq.spamhaus.net`); used whenever a key is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyed_zone: Option<String>,
    /// The key of the keyed zone (from the MSP's override, never from the built-in file).
    #[serde(default, skip_serializing)]
    pub key: Option<ListKey>,
    /// Where a listed party asks to be removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delisting_url: Option<String>,
    /// How hard the list may be asked.
    pub rate: RateLimit,
    /// Whether the monitor queries it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The health entry that must be listed, when not RFC 5782's (`127.0.0.2` for IP lists,
    /// `test` for domain lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listed: Option<String>,
    /// The health entry that must not be listed, when not RFC 5782's (`127.0.0.1`,
    /// `invalid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clear: Option<String>,
}

/// Changes to one list, all optional: a patch of an existing list, or (with at least
/// `zone`, `kind` and `rate`) a list of the MSP's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListPatch {
    /// See [`Blocklist::name`].
    pub name: Option<String>,
    /// See [`Blocklist::zone`].
    pub zone: Option<String>,
    /// See [`Blocklist::kind`].
    pub kind: Option<ListKind>,
    /// See [`Blocklist::ipv4`].
    pub ipv4: Option<bool>,
    /// See [`Blocklist::ipv6`].
    pub ipv6: Option<bool>,
    /// Replaces all codes when given.
    pub codes: Option<Vec<ReturnCode>>,
    /// See [`Blocklist::key_required`].
    pub key_required: Option<bool>,
    /// See [`Blocklist::keyed_zone`].
    pub keyed_zone: Option<String>,
    /// See [`Blocklist::delisting_url`].
    pub delisting_url: Option<String>,
    /// See [`Blocklist::rate`].
    pub rate: Option<RateLimit>,
    /// See [`Blocklist::test_listed`].
    pub test_listed: Option<String>,
    /// See [`Blocklist::test_clear`].
    pub test_clear: Option<String>,
}

/// One MSP's override of one list: switch it, edit or add it, give it a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOverride {
    /// The list's id (a built-in id edits that list; a new id adds one).
    pub list_id: String,
    /// Switches the list on or off; `None` keeps the catalogue's choice.
    pub enabled: Option<bool>,
    /// Changes to the list's definition.
    pub patch: Option<ListPatch>,
    /// The key of the list's keyed zone.
    pub key: Option<ListKey>,
}

/// A catalogue of lists, ids unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalogue {
    lists: Vec<Blocklist>,
}

/// The catalogue file's shape: `[[list]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    list: Vec<Blocklist>,
}

/// An override that could not be applied (the others were).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideProblem {
    /// The override's list id.
    pub list_id: String,
    /// Why it was skipped.
    pub error: BlocklistError,
}

impl ReturnCode {
    /// Whether `answer` carries this code.
    pub fn matches(&self, answer: Ipv4Addr) -> bool {
        let a = u32::from(answer);
        match self.mask {
            Some(mask) => {
                let m = u32::from(mask);
                a & m == u32::from(self.from) & m
            }
            None => (u32::from(self.from)..=u32::from(self.to)).contains(&a),
        }
    }
}

impl TryFrom<RawCode> for ReturnCode {
    type Error = String;
    fn try_from(raw: RawCode) -> Result<Self, String> {
        let parse = |s: &str| {
            s.trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("bad return code {:?}", raw.code))
        };
        let (from, to) = match raw.code.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let one = parse(&raw.code)?;
                (one, one)
            }
        };
        if from > to {
            return Err(format!("return code range {:?} is reversed", raw.code));
        }
        if raw.meaning.trim().is_empty() {
            return Err(format!("return code {:?} has no meaning", raw.code));
        }
        Ok(Self {
            from,
            to,
            mask: raw.mask,
            meaning: raw.meaning,
            refusal: raw.refusal,
        })
    }
}

impl From<ReturnCode> for RawCode {
    fn from(code: ReturnCode) -> Self {
        Self {
            code: if code.from == code.to {
                code.from.to_string()
            } else {
                format!("{}-{}", code.from, code.to)
            },
            mask: code.mask,
            meaning: code.meaning,
            refusal: code.refusal,
        }
    }
}

impl ListKey {
    /// A key; `None` when it is empty or is not one DNS label of letters, digits and `-`.
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let ok = !key.is_empty()
            && key.len() <= 63
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ok.then_some(Self(key))
    }

    /// The key itself (to store it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ListKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ListKey(<redacted>)")
    }
}

impl Blocklist {
    /// The zone to query: the keyed zone when a key is set, `None` when a key is required
    /// and missing.
    pub fn query_zone(&self) -> Option<String> {
        match (&self.key, &self.keyed_zone) {
            (Some(key), Some(template)) => Some(template.replace(KEY_PLACEHOLDER, key.expose())),
            _ if self.key_required => None,
            _ => Some(self.zone.clone()),
        }
    }

    /// The return codes `answer` carries.
    pub fn codes_of(&self, answer: Ipv4Addr) -> impl Iterator<Item = &ReturnCode> {
        self.codes.iter().filter(move |c| c.matches(answer))
    }

    /// Checks the definition: id, zones, rate and that an IP list answers some family.
    pub fn validate(&self) -> Result<(), BlocklistError> {
        let bad = |reason: String| {
            Err(BlocklistError::InvalidList {
                list: self.id.clone(),
                reason,
            })
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return bad("the id must be lower-case letters, digits, '-' and '.'".into());
        }
        if let Err(reason) = check_zone(&self.zone) {
            return bad(format!("zone {:?}: {reason}", self.zone));
        }
        if let Some(template) = &self.keyed_zone {
            if !template.contains(KEY_PLACEHOLDER) {
                return bad(format!("keyed zone {template:?} has no {{key}}"));
            }
            if let Err(reason) = check_zone(&template.replace(KEY_PLACEHOLDER, "k")) {
                return bad(format!("keyed zone {template:?}: {reason}"));
            }
        }
        if self.key_required && self.keyed_zone.is_none() {
            return bad("a list that needs a key needs a keyed zone".into());
        }
        if self.rate.per_minute == 0 || self.rate.burst == 0 {
            return bad("the rate limit must allow at least one query".into());
        }
        if self.kind != ListKind::Domain && !self.ipv4 && !self.ipv6 {
            return bad("an IP list must answer IPv4 or IPv6".into());
        }
        Ok(())
    }

    /// Applies `patch` to a copy of this list.
    fn patched(&self, patch: &ListPatch) -> Blocklist {
        let mut list = self.clone();
        let p = patch.clone();
        list.name = p.name.unwrap_or(list.name);
        list.zone = p.zone.map(|z| normalize_zone(&z)).unwrap_or(list.zone);
        list.kind = p.kind.unwrap_or(list.kind);
        list.ipv4 = p.ipv4.unwrap_or(list.ipv4);
        list.ipv6 = p.ipv6.unwrap_or(list.ipv6);
        list.codes = p.codes.unwrap_or(list.codes);
        list.key_required = p.key_required.unwrap_or(list.key_required);
        list.keyed_zone = p.keyed_zone.or(list.keyed_zone);
        list.delisting_url = p.delisting_url.or(list.delisting_url);
        list.rate = p.rate.unwrap_or(list.rate);
        list.test_listed = p.test_listed.or(list.test_listed);
        list.test_clear = p.test_clear.or(list.test_clear);
        list
    }
}

impl ListPatch {
    /// A list of the MSP's own from this patch (needs `zone`, `kind` and `rate`).
    fn new_list(&self, id: &str) -> Result<Blocklist, BlocklistError> {
        let missing = |field: &str| BlocklistError::InvalidList {
            list: id.to_owned(),
            reason: format!("a new list needs {field}"),
        };
        let base = Blocklist {
            id: id.to_owned(),
            name: id.to_owned(),
            zone: normalize_zone(self.zone.as_deref().ok_or_else(|| missing("a zone"))?),
            kind: self.kind.ok_or_else(|| missing("a kind"))?,
            ipv4: true,
            ipv6: false,
            codes: Vec::new(),
            key_required: false,
            keyed_zone: None,
            key: None,
            delisting_url: None,
            rate: self.rate.ok_or_else(|| missing("a rate limit"))?,
            enabled: true,
            test_listed: None,
            test_clear: None,
        };
        Ok(base.patched(self))
    }

    /// Reads a patch stored as JSON.
    pub fn from_json(value: serde_json::Value) -> Result<Self, BlocklistError> {
        serde_json::from_value(value).map_err(|e| BlocklistError::Catalogue(e.to_string()))
    }

    /// The patch as JSON, to store it.
    pub fn to_json(&self) -> Result<serde_json::Value, BlocklistError> {
        serde_json::to_value(self).map_err(|e| BlocklistError::Catalogue(e.to_string()))
    }
}

impl ListOverride {
    /// An override as the store keeps it: the switch, the patch as JSON, the key. A patch
    /// or key that cannot be read is an error naming the list.
    pub fn from_stored(
        list_id: &str,
        enabled: Option<bool>,
        patch: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> Result<Self, BlocklistError> {
        let invalid = |reason: String| BlocklistError::InvalidList {
            list: list_id.to_owned(),
            reason,
        };
        let patch = patch
            .map(ListPatch::from_json)
            .transpose()
            .map_err(|e| invalid(e.to_string()))?;
        let key = key
            .map(|k| ListKey::new(k).ok_or_else(|| invalid("the key is not one DNS label".into())))
            .transpose()?;
        Ok(Self {
            list_id: list_id.to_owned(),
            enabled,
            patch,
            key,
        })
    }
}

impl Catalogue {
    /// The built-in catalogue (`catalogue.toml`).
    pub fn builtin() -> Result<Self, BlocklistError> {
        Self::from_toml(BUILTIN)
    }

    /// Reads a catalogue in the format of `catalogue.toml`: `[[list]]` tables. Every list
    /// is validated; ids must be unique.
    pub fn from_toml(text: &str) -> Result<Self, BlocklistError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| BlocklistError::Catalogue(e.to_string()))?;
        Self::from_lists(file.list)
    }

    /// A catalogue of these lists (validated, ids unique).
    pub fn from_lists(lists: Vec<Blocklist>) -> Result<Self, BlocklistError> {
        let mut catalogue = Self { lists: Vec::new() };
        for mut list in lists {
            list.zone = normalize_zone(&list.zone);
            list.validate()?;
            if catalogue.get(&list.id).is_some() {
                return Err(BlocklistError::InvalidList {
                    list: list.id,
                    reason: "the id is used twice".into(),
                });
            }
            catalogue.lists.push(list);
        }
        Ok(catalogue)
    }

    /// Every list, enabled or not, in catalogue order.
    pub fn lists(&self) -> &[Blocklist] {
        &self.lists
    }

    /// The list with this id.
    pub fn get(&self, id: &str) -> Option<&Blocklist> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// The lists the monitor queries.
    pub fn enabled(&self) -> Vec<Blocklist> {
        self.lists.iter().filter(|l| l.enabled).cloned().collect()
    }

    /// This catalogue with one MSP's overrides applied, in order. An override that does
    /// not apply (a new list without a zone, an invalid result) is skipped and named; the
    /// others still apply.
    pub fn with_overrides(&self, overrides: &[ListOverride]) -> (Catalogue, Vec<OverrideProblem>) {
        let mut out = self.clone();
        let mut problems = Vec::new();
        for o in overrides {
            if let Err(error) = out.apply(o) {
                problems.push(OverrideProblem {
                    list_id: o.list_id.clone(),
                    error,
                });
            }
        }
        (out, problems)
    }

    fn apply(&mut self, o: &ListOverride) -> Result<(), BlocklistError> {
        let position = self.lists.iter().position(|l| l.id == o.list_id);
        let mut list = match (position, &o.patch) {
            (Some(i), Some(patch)) => self.lists[i].patched(patch),
            (Some(i), None) => self.lists[i].clone(),
            (None, Some(patch)) => patch.new_list(&o.list_id)?,
            (None, None) => {
                return Err(BlocklistError::InvalidList {
                    list: o.list_id.clone(),
                    reason: "no such list in the catalogue".into(),
                });
            }
        };
        if let Some(enabled) = o.enabled {
            list.enabled = enabled;
        }
        if let Some(key) = &o.key {
            list.key = Some(key.clone());
        }
        list.validate()?;
        match position {
            Some(i) => self.lists[i] = list,
            None => self.lists.push(list),
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}

/// Lower case, no trailing dot.
fn normalize_zone(zone: &str) -> String {
    zone.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A zone must be a DNS name of at least two labels (letters, digits, `-`, `_`).
fn check_zone(zone: &str) -> Result<(), &'static str> {
    if zone.is_empty() || zone.len() > 200 {
        return Err("must be 1 to 200 octets");
    }
    let labels: Vec<&str> = zone.split('.').collect();
    if labels.len() < 2 {
        return Err("must have at least two labels");
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err("labels must be 1 to 63 octets");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("labels must be letters, digits, '-' or '_'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_builtin_catalogue_loads_and_names_the_well_known_lists() {
        let c = Catalogue::builtin().unwrap();
        for id in [
            "spamhaus-zen",
            "spamhaus-dbl",
            "barracuda",
            "spamcop",
            "psbl",
            "mailspike",
            "uceprotect-1",
            "dnswl",
            "surbl",
            "uribl",
        ] {
            assert!(c.get(id).is_some(), "{id} missing");
        }
        let zen = c.get("spamhaus-zen").unwrap();
        let meanings: Vec<&str> = zen
            .codes_of(ip("127.0.0.4"))
            .map(|c| c.meaning.as_str())
            .collect();
        assert_eq!(meanings.len(), 1);
        assert!(meanings[0].contains("XBL"), "{meanings:?}");
        assert!(
            zen.codes_of(ip("127.0.0.11"))
                .any(|c| c.meaning.contains("PBL"))
        );
        assert!(zen.codes_of(ip("127.0.0.8")).next().is_none());
    }

    #[test]
    fn codes_match_exactly_by_range_and_by_mask() {
        let exact = ReturnCode::try_from(RawCode {
            code: "127.0.0.2".into(),
            mask: None,
            meaning: "listed".into(),
            refusal: false,
        })
        .unwrap();
        assert!(exact.matches(ip("127.0.0.2")));
        assert!(!exact.matches(ip("127.0.0.3")));
        let range = ReturnCode::try_from(RawCode {
            code: "127.0.0.4-127.0.0.7".into(),
            mask: None,
            meaning: "xbl".into(),
            refusal: false,
        })
        .unwrap();
        assert!(range.matches(ip("127.0.0.6")) && !range.matches(ip("127.0.0.8")));
        let bit = ReturnCode::try_from(RawCode {
            code: "127.0.0.8".into(),
            mask: Some(ip("0.0.0.8")),
            meaning: "phishing".into(),
            refusal: false,
        })
        .unwrap();
        assert!(bit.matches(ip("127.0.0.24")) && !bit.matches(ip("127.0.0.16")));
        let reversed = ReturnCode::try_from(RawCode {
            code: "127.0.0.7-127.0.0.4".into(),
            mask: None,
            meaning: "x".into(),
            refusal: false,
        });
        assert!(reversed.is_err());
    }

    #[test]
    fn a_keyed_zone_is_used_only_with_a_key_and_required_keys_block_the_list() {
        let c = Catalogue::builtin().unwrap();
        let zen = c.get("spamhaus-zen").unwrap();
        assert_eq!(zen.query_zone().as_deref(), Some("zen.spamhaus.org"));
        let key = ListKey::new("abc123def").unwrap();
        let (keyed, problems) = c.with_overrides(&[ListOverride {
            list_id: "spamhaus-zen".into(),
            key: Some(key),
            ..Default::default()
        }]);
        assert!(problems.is_empty());
        assert_eq!(
            keyed.get("spamhaus-zen").unwrap().query_zone().as_deref(),
            Some("abc123def.zen.dq.spamhaus.net")
        );
        let mut needs = zen.clone();
        needs.key_required = true;
        assert_eq!(needs.query_zone(), None);
        assert!(ListKey::new("bad.key").is_none());
        assert_eq!(
            format!("{:?}", ListKey::new("secret").unwrap()),
            "ListKey(<redacted>)"
        );
    }

    #[test]
    fn overrides_disable_edit_and_add_lists_and_a_bad_one_spares_the_rest() {
        let c = Catalogue::builtin().unwrap();
        let overrides = vec![
            ListOverride {
                list_id: "spamcop".into(),
                enabled: Some(false),
                ..Default::default()
            },
            ListOverride {
                list_id: "psbl".into(),
                patch: Some(ListPatch {
                    rate: Some(RateLimit {
                        per_minute: 5,
                        burst: 1,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ListOverride {
                list_id: "no-zone".into(),
                patch: Some(ListPatch::default()),
                ..Default::default()
            },
            ListOverride {
                list_id: "own-list".into(),
                patch: Some(ListPatch {
                    zone: Some("BL.Example.NET.".into()),
                    kind: Some(ListKind::Dnsbl),
                    rate: Some(RateLimit {
                        per_minute: 60,
                        burst: 10,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        let (edited, problems) = c.with_overrides(&overrides);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].list_id, "no-zone");
        assert!(!edited.get("spamcop").unwrap().enabled);
        assert!(!edited.enabled().iter().any(|l| l.id == "spamcop"));
        assert_eq!(edited.get("psbl").unwrap().rate.per_minute, 5);
        assert_eq!(edited.get("own-list").unwrap().zone, "bl.example.net");
        // The built-in catalogue is untouched.
        assert!(c.get("spamcop").unwrap().enabled);
    }

    #[test]
    fn bad_catalogues_are_refused_with_the_list_named() {
        let dup = r#"
            [[list]]
            id = "a"
            name = "A"
            zone = "a.example"
            kind = "dnsbl"
            rate = { per_minute = 1, burst = 1 }
            [[list]]
            id = "a"
            name = "A again"
            zone = "b.example"
            kind = "dnsbl"
            rate = { per_minute = 1, burst = 1 }
        "#;
        assert!(matches!(
            Catalogue::from_toml(dup),
            Err(BlocklistError::InvalidList { list, .. }) if list == "a"
        ));
        let bad_zone = dup.replace("a.example", "a..example");
        assert!(Catalogue::from_toml(&bad_zone).is_err());
        let no_rate = "[[list]]\nid = \"x\"\nname = \"x\"\nzone = \"x.example\"\nkind = \"domain\"";
        assert!(matches!(
            Catalogue::from_toml(no_rate),
            Err(BlocklistError::Catalogue(_))
        ));
    }

    #[test]
    fn stored_overrides_are_read_back_or_refused_with_the_list_named() {
        let o = ListOverride::from_stored(
            "spamhaus-zen",
            Some(false),
            Some(serde_json::json!({"rate": {"per_minute": 10, "burst": 1}})),
            Some("abc"),
        )
        .unwrap();
        assert_eq!(o.enabled, Some(false));
        assert_eq!(o.patch.unwrap().rate.unwrap().per_minute, 10);
        assert_eq!(o.key.unwrap().expose(), "abc");
        let bad = ListOverride::from_stored("x", None, Some(serde_json::json!({"nope": 1})), None);
        assert!(matches!(bad, Err(BlocklistError::InvalidList { list, .. }) if list == "x"));
        assert!(ListOverride::from_stored("x", None, None, Some("a.b")).is_err());
    }

    #[test]
    fn patches_round_trip_through_json() {
        let patch = ListPatch {
            name: Some("Mine".into()),
            codes: Some(vec![ReturnCode {
                from: ip("127.0.0.2"),
                to: ip("127.0.0.3"),
                mask: None,
                meaning: "listed".into(),
                refusal: false,
            }]),
            ..Default::default()
        };
        let json = patch.to_json().unwrap();
        assert_eq!(json["codes"][0]["code"], "127.0.0.2-127.0.0.3");
        assert_eq!(ListPatch::from_json(json).unwrap(), patch);
        assert!(ListPatch::from_json(serde_json::json!({"zone": 3})).is_err());
    }
}
