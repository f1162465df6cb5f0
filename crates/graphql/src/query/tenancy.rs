//! `clients`, `client`, `domains`, `domain`.

use async_graphql::{Context, ID, Object};
use postern_domain::{ClientId, DomainId, DomainName};

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::tenancy::{ClientNode, DomainNode};

#[derive(Default)]
pub(crate) struct TenancyQuery;

#[Object]
impl TenancyQuery {
    /// The clients the caller reaches, newest first: every client of the MSP for MSP-wide
    /// callers, the one client otherwise.
    async fn clients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<ClientNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_clients(request).await?;
        Ok(connection(&request, page, CountSource::Clients, |c| {
            (c.id.as_uuid(), ClientNode(c))
        }))
    }

    /// One client by id; `not_found` if it does not exist or the caller does not reach it.
    async fn client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client's id.")] id: ID,
    ) -> Result<ClientNode, ApiError> {
        let id: ClientId = parse_id(&id)?;
        Ok(ClientNode(tenant(ctx)?.client(id).await?))
    }

    /// The domains the caller reaches, newest first.
    async fn domains(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only domains of this client.")] client_id: Option<ID>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<DomainNode>, ApiError> {
        let db = tenant(ctx)?;
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let request = page_request(first, after.as_deref())?;
        let page = db.list_domains(client, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Domains(client),
            |d| (d.id.as_uuid(), DomainNode(d)),
        ))
    }

    /// One domain, by name or by id (exactly one of the two); `not_found` if no client the
    /// caller reaches holds it.
    async fn domain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The domain name (any case, trailing dot allowed).")] name: Option<String>,
        #[graphql(desc = "The domain's id.")] id: Option<ID>,
    ) -> Result<DomainNode, ApiError> {
        let db = tenant(ctx)?;
        let domain = match (name, id) {
            (Some(name), None) => {
                let name =
                    DomainName::parse(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
                db.domain_by_name(&name).await?
            }
            (None, Some(id)) => {
                let id: DomainId = parse_id(&id)?;
                db.domain(id).await?
            }
            _ => {
                return Err(ApiError::bad_request("give exactly one of name and id"));
            }
        };
        Ok(DomainNode(domain))
    }
}
