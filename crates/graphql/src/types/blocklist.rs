//! Blocklist monitoring: watched targets with each list's latest verdict, their listing
//! history, and the MSP's list catalogue (built-in lists merged with its overrides).

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use postern_blocklist::{Blocklist, Catalogue, ListKind, ListOverride, ListingState};
use postern_store::{
    BlocklistListing, BlocklistOverride, BlocklistState, BlocklistTarget, PageRequest, StoreError,
    TenantDb,
};
use serde_json::Value;

use crate::connection::page_size;
use crate::context::{tenant, to_id};
use crate::error::ApiError;

/// A target found by monitoring (a client domain, a DMARC sending source) has a note
/// starting with this.
const AUTO_NOTE_PREFIX: &str = "auto:";

/// An IP address or domain a client watches on blocklists.
pub(crate) struct BlocklistTargetNode {
    pub(crate) target: BlocklistTarget,
    pub(crate) lists: Vec<BlocklistListStateNode>,
}

/// One list's latest verdict on a target.
#[derive(SimpleObject)]
#[graphql(name = "BlocklistListState")]
pub(crate) struct BlocklistListStateNode {
    /// The list's catalogue id, e.g. `spamhaus-zen`.
    list_id: String,
    /// The list's name (its id when the list left the catalogue).
    list_name: String,
    /// `dnsbl`, `dnswl` (a listing is good news) or `domain`; null when the list left the
    /// catalogue.
    kind: Option<String>,
    /// `listed`, `clear` or `unknown` (no trustworthy answer: never read as clear).
    state: String,
    /// The return codes answered (`127.0.0.2`), when listed.
    codes: Vec<String>,
    /// What the codes mean, in the list's words.
    meanings: Vec<String>,
    /// The list's TXT reasons, when listed.
    txt: Vec<String>,
    /// Why the verdict is unknown.
    reason: Option<String>,
    /// Where to ask for removal.
    delist_url: Option<String>,
    /// When the verdict became what it is.
    since: DateTime<Utc>,
    /// When it was last confirmed.
    checked_at: DateTime<Utc>,
}

/// One period during which a list listed a target.
#[derive(SimpleObject)]
#[graphql(name = "BlocklistListing")]
pub(crate) struct BlocklistListingNode {
    /// The listing period's id.
    id: ID,
    /// The list's catalogue id.
    list_id: String,
    /// When the listing was first seen.
    since: DateTime<Utc>,
    /// When a clear answer ended it; null while listed.
    until: Option<DateTime<Utc>>,
    /// The verdict when first seen: codes with meanings, TXT.
    detail: Json<Value>,
}

/// One list of the MSP's catalogue.
#[derive(SimpleObject)]
#[graphql(name = "BlocklistList")]
pub(crate) struct BlocklistListNode {
    /// Stable id, e.g. `spamhaus-zen`.
    id: String,
    /// The list's name for people.
    name: String,
    /// The public zone queried.
    zone: String,
    /// `dnsbl`, `dnswl` or `domain`.
    kind: String,
    /// Whether monitoring queries it.
    enabled: bool,
    /// It answers only under a keyed zone (Spamhaus DQS): without a key it is not queried.
    needs_key: bool,
    /// The MSP set a key for it (never read back).
    has_key: bool,
    /// The MSP overrides it (or added it).
    overridden: bool,
    /// Where a listed party asks to be removed.
    delist_url: Option<String>,
    /// The return codes and what they mean.
    codes: Vec<BlocklistCodeNode>,
}

/// A return code (or range, or bit) of a list.
#[derive(SimpleObject)]
#[graphql(name = "BlocklistCode")]
pub(crate) struct BlocklistCodeNode {
    /// `127.0.0.2`, or a range `127.0.0.4-127.0.0.7`.
    code: String,
    /// The bit mask, for bit-coded lists.
    mask: Option<String>,
    /// What the code means, in the list's words.
    meaning: String,
    /// The code is the list refusing to answer (the verdict is unknown).
    refusal: bool,
}

/// An IP address or domain a client watches on blocklists, with each list's latest verdict.
#[Object(name = "BlocklistTarget")]
impl BlocklistTargetNode {
    /// The target's id.
    async fn id(&self) -> ID {
        to_id(self.target.id)
    }

    /// The client that watches it.
    async fn client_id(&self) -> ID {
        to_id(self.target.client_id)
    }

    /// `ip` or `domain`.
    async fn kind(&self) -> &str {
        self.target.kind.as_str()
    }

    /// The address (canonical form) or domain (lower case).
    async fn value(&self) -> &str {
        &self.target.value
    }

    /// Why it is watched.
    async fn note(&self) -> &str {
        &self.target.note
    }

    /// Found by monitoring (a client domain or a DMARC sending source), not added by people.
    async fn automatic(&self) -> bool {
        self.target.note.starts_with(AUTO_NOTE_PREFIX)
    }

    /// When it was added.
    async fn created_at(&self) -> DateTime<Utc> {
        self.target.created_at
    }

    /// Each list's latest verdict, by list id; empty until the first check.
    async fn lists(&self) -> &[BlocklistListStateNode] {
        &self.lists
    }

    /// Whether any block list (not a DNSWL) lists it now.
    async fn listed(&self) -> bool {
        self.lists
            .iter()
            .any(|l| l.state == "listed" && l.kind.as_deref() != Some("dnswl"))
    }

    /// The listing periods, newest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many: 1 to 500, default 50.")] first: Option<i32>,
    ) -> Result<Vec<BlocklistListingNode>, ApiError> {
        let page = tenant(ctx)?
            .blocklist_history(self.target.id, None, PageRequest::first(page_size(first)?))
            .await?;
        Ok(page
            .items
            .into_iter()
            .map(BlocklistListingNode::from)
            .collect())
    }
}

impl BlocklistTargetNode {
    /// `target` with its verdicts among `states`, lists named from `catalogue`.
    pub(crate) fn new(
        target: BlocklistTarget,
        states: &[BlocklistState],
        catalogue: &Catalogue,
    ) -> Self {
        let lists = states
            .iter()
            .filter(|s| s.target_id == target.id)
            .map(|s| BlocklistListStateNode::new(s, catalogue.get(&s.list_id)))
            .collect();
        Self { target, lists }
    }
}

impl BlocklistListStateNode {
    fn new(state: &BlocklistState, list: Option<&Blocklist>) -> Self {
        let (mut codes, mut meanings, mut txt, mut reason) = (vec![], vec![], vec![], None);
        match serde_json::from_value::<ListingState>(state.detail.clone()) {
            Ok(ListingState::Listed {
                codes: listed,
                txt: reasons,
            }) => {
                codes = listed.iter().map(|c| c.code.to_string()).collect();
                meanings = listed.into_iter().flat_map(|c| c.meanings).collect();
                txt = reasons;
            }
            Ok(ListingState::Unknown { reason: why }) => reason = Some(why.to_string()),
            Ok(ListingState::Clear) | Err(_) => {}
        }
        Self {
            list_id: state.list_id.clone(),
            list_name: list.map_or_else(|| state.list_id.clone(), |l| l.name.clone()),
            kind: list.map(|l| kind_word(l.kind).to_owned()),
            state: state.verdict.as_str().to_owned(),
            codes,
            meanings,
            txt,
            reason,
            delist_url: list.and_then(|l| l.delisting_url.clone()),
            since: state.since,
            checked_at: state.checked_at,
        }
    }
}

impl From<BlocklistListing> for BlocklistListingNode {
    fn from(l: BlocklistListing) -> Self {
        Self {
            id: to_id(l.id),
            list_id: l.list_id,
            since: l.since,
            until: l.until,
            detail: Json(l.detail),
        }
    }
}

impl BlocklistListNode {
    /// `list` as the catalogue has it, with what the MSP's `overrides` say of it.
    pub(crate) fn new(list: &Blocklist, overrides: &[BlocklistOverride]) -> Self {
        let own = overrides.iter().find(|o| o.list_id == list.id);
        Self {
            id: list.id.clone(),
            name: list.name.clone(),
            zone: list.zone.clone(),
            kind: kind_word(list.kind).to_owned(),
            enabled: list.enabled,
            needs_key: list.key_required,
            has_key: own.is_some_and(|o| o.has_key),
            overridden: own.is_some(),
            delist_url: list.delisting_url.clone(),
            codes: list
                .codes
                .iter()
                .map(|c| BlocklistCodeNode {
                    code: if c.from == c.to {
                        c.from.to_string()
                    } else {
                        format!("{}-{}", c.from, c.to)
                    },
                    mask: c.mask.map(|m| m.to_string()),
                    meaning: c.meaning.clone(),
                    refusal: c.refusal,
                })
                .collect(),
        }
    }
}

fn kind_word(kind: ListKind) -> &'static str {
    match kind {
        ListKind::Dnsbl => "dnsbl",
        ListKind::Dnswl => "dnswl",
        ListKind::Domain => "domain",
    }
}

/// The built-in catalogue.
pub(crate) fn builtin() -> Result<Catalogue, ApiError> {
    Catalogue::builtin().map_err(|e| ApiError::internal("the blocklist catalogue", &e))
}

/// The override as the catalogue applies it (keys are never read back: a set key counts
/// as a placeholder, which is all the catalogue's view needs).
pub(crate) fn list_override(o: &BlocklistOverride) -> Result<ListOverride, ApiError> {
    ListOverride::from_stored(
        &o.list_id,
        o.enabled,
        o.patch.clone(),
        o.has_key.then_some("set"),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The caller's MSP's overrides (none for client-bound users, who may not read them) and
/// the built-in catalogue with them applied (overrides that do not apply are skipped).
pub(crate) async fn catalogue(
    db: &TenantDb,
) -> Result<(Catalogue, Vec<BlocklistOverride>), ApiError> {
    let overrides = match db.blocklist_overrides().await {
        Ok(overrides) => overrides,
        Err(StoreError::Forbidden(_)) => Vec::new(),
        Err(error) => return Err(error.into()),
    };
    let applied: Vec<ListOverride> = overrides
        .iter()
        .filter_map(|o| list_override(o).ok())
        .collect();
    let (catalogue, _problems) = builtin()?.with_overrides(&applied);
    Ok((catalogue, overrides))
}
