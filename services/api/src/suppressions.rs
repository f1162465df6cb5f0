//! `GET /v1/suppressions.csv?clientId=<uuid>[&includeRestored=true]`: one client's
//! suppression list as CSV, with the same authentication and tenant rules as GraphQL (the
//! principal comes from the verified `Authorization` header; another tenant's client is
//! `not_found`).

use crate::graphql::refusal;
use crate::server::ApiServices;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{SecondsFormat, Utc};
use postern_domain::{ClientId, ErrorCode};
use postern_store::{PageRequest, StoreError, Suppression, SuppressionFilter};
use serde::Deserialize;

/// Rows fetched per page while writing the file.
const PAGE: u64 = 1_000;

/// The query string.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CsvQuery {
    client_id: String,
    #[serde(default)]
    include_restored: bool,
}

/// The CSV header line.
const HEADER: &str =
    "address,reason,suppressed_at,source_bounce_id,active,restored_at,restore_reason\r\n";

pub(crate) async fn suppressions_csv(
    services: web::Data<ApiServices>,
    req: HttpRequest,
    query: web::Query<CsvQuery>,
) -> HttpResponse {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return refusal(
            ErrorCode::Unauthenticated,
            "an Authorization header is required",
        );
    };
    let principal = match services
        .auth
        .authenticate(header.to_str().unwrap_or_default(), Utc::now())
        .await
    {
        Ok(p) => p,
        Err(error) => return refusal(ErrorCode::Unauthenticated, &error.to_string()),
    };
    let Ok(client) = query.client_id.trim().parse::<ClientId>() else {
        return refusal(ErrorCode::BadRequest, "clientId is not an id");
    };
    let db = services.store.tenant(principal.scope);
    if let Err(error) = db.client(client).await {
        return store_refusal(&error);
    }
    let filter = SuppressionFilter {
        client: Some(client),
        include_restored: query.include_restored,
        address_contains: None,
    };
    let mut body = String::from(HEADER);
    let mut request = PageRequest::first(PAGE);
    loop {
        let page = match db.list_suppressions(&filter, request).await {
            Ok(page) => page,
            Err(error) => return store_refusal(&error),
        };
        for row in &page.items {
            body.push_str(&csv_row(row));
        }
        match (page.has_next, page.items.last()) {
            (true, Some(last)) => request = PageRequest::after(last.id, PAGE),
            _ => break,
        }
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"suppressions-{client}.csv\""),
        ))
        .body(body)
}

fn store_refusal(error: &StoreError) -> HttpResponse {
    match error {
        StoreError::NotFound => refusal(ErrorCode::NotFound, "not found"),
        StoreError::Forbidden(why) => refusal(ErrorCode::Forbidden, why),
        StoreError::Invalid(why) => refusal(ErrorCode::BadRequest, why),
        StoreError::Conflict(why) => refusal(ErrorCode::Conflict, why),
        StoreError::Database(_) => {
            tracing::warn!(%error, "suppression export failed");
            refusal(ErrorCode::Internal, "internal error")
        }
    }
}

/// One CSV line (RFC 4180: fields with commas, quotes or line breaks are quoted).
pub(crate) fn csv_row(s: &Suppression) -> String {
    let time = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let fields = [
        s.address.clone(),
        s.reason.clone(),
        time(s.suppressed_at),
        s.source_bounce_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        s.is_active().to_string(),
        s.restored_at.map(time).unwrap_or_default(),
        s.restore_reason.clone().unwrap_or_default(),
    ];
    let mut line = fields.map(|f| quote(&f)).join(",");
    line.push_str("\r\n");
    line
}

fn quote(field: &str) -> String {
    // A leading =, +, - or @ would be a formula in a spreadsheet: prefix it with a quote.
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_owned()
    };
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::MspId;

    #[test]
    fn fields_with_separators_are_quoted_and_formulas_defused() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("=cmd()"), "'=cmd()");
    }

    #[test]
    fn a_row_has_every_column() {
        let at = chrono::DateTime::from_timestamp(1_764_410_400, 0).unwrap();
        let row = Suppression {
            id: ClientId::new().as_uuid(),
            msp_id: MspId::new(),
            client_id: ClientId::new(),
            address: "gone@contoso.example".into(),
            reason: "userunknown".into(),
            source_bounce_id: None,
            suppressed_at: at,
            suppressed_by: None,
            restored_at: None,
            restored_by: None,
            restore_reason: None,
        };
        assert_eq!(
            csv_row(&row),
            "gone@contoso.example,userunknown,2025-11-29T10:00:00Z,,true,,\r\n"
        );
        assert_eq!(HEADER.matches(',').count(), 6);
    }
}
