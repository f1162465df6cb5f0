//! IMAP pull cursors: per configured mailbox, the folder's UIDVALIDITY and the highest UID
//! whose message is stored.

use super::SystemDb;
use crate::entity::imap_cursor;
use crate::error::StoreError;
use crate::repo::now;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, IntoActiveModel};

/// Where the pull of one mailbox left off. UIDs are only meaningful under the
/// UIDVALIDITY they were seen with (RFC 3501 2.3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImapCursor {
    /// The folder's UIDVALIDITY when `last_uid` was stored.
    pub uid_validity: u32,
    /// The highest UID whose message is stored (0: none yet).
    pub last_uid: u32,
}

impl SystemDb {
    /// The cursor of the mailbox named `mailbox`, if it was ever pulled.
    pub async fn imap_cursor(&self, mailbox: &str) -> Result<Option<ImapCursor>, StoreError> {
        let txn = self.read().await?;
        let row = imap_cursor::Entity::find_by_id(mailbox.to_owned())
            .one(&txn)
            .await?;
        txn.commit().await?;
        row.map(|r| {
            Ok(ImapCursor {
                uid_validity: u32::try_from(r.uid_validity).map_err(|_| {
                    StoreError::Invalid(format!("imap_cursor.uid_validity {}", r.uid_validity))
                })?,
                last_uid: u32::try_from(r.last_uid).map_err(|_| {
                    StoreError::Invalid(format!("imap_cursor.last_uid {}", r.last_uid))
                })?,
            })
        })
        .transpose()
    }

    /// Records where the pull of `mailbox` is now (inserted or replaced).
    pub async fn save_imap_cursor(
        &self,
        mailbox: &str,
        cursor: ImapCursor,
    ) -> Result<(), StoreError> {
        let txn = self.write().await?;
        imap_cursor::Entity::insert(
            imap_cursor::Model {
                mailbox: mailbox.to_owned(),
                uid_validity: i64::from(cursor.uid_validity),
                last_uid: i64::from(cursor.last_uid),
                updated_at: now(),
            }
            .into_active_model(),
        )
        .on_conflict(
            OnConflict::column(imap_cursor::Column::Mailbox)
                .update_columns([
                    imap_cursor::Column::UidValidity,
                    imap_cursor::Column::LastUid,
                    imap_cursor::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
