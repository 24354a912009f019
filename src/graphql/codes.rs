//! What every transport shares: a document measured before validation can expand it, and every
//! error with an `extensions.code` (async-graphql's own parse, validation and argument errors have
//! none: they are the client's to fix, `BAD_USER_INPUT`). Over HTTP the measure runs earlier too,
//! before anything is parsed twice; over WebSocket this is where it runs.

use std::sync::Arc;

use async_graphql::{
    Request, Response, ServerError, ServerResult,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest,
        NextSubscribe,
    },
    futures_util::stream::BoxStream,
};
use futures_util::StreamExt;

use super::limits::{self, DocumentLimits};

/// The extension's factory, installed on the schema.
pub struct Guard;

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension)
    }
}

struct GuardExtension;

/// Gives each error without a code `BAD_USER_INPUT`, and async-graphql's own terse refusals a sentence
/// a person can act on.
fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        if error.message == "Query is too complex." {
            error.message = format!(
                "The query asks for more than {} items (a connection counts its fields once per item of `first`, 20 when left out); ask for smaller pages, fewer fields or fewer aliases.",
                super::MAX_ITEMS
            );
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

#[async_trait::async_trait]
impl Extension for GuardExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        super::text::check(&request.query, &request.variables)
            .map_err(|refusal| ServerError::new(refusal, None))?;
        let doc = request.parsed_query()?;
        let fields = limits::check(doc, &DocumentLimits::SERVICE)
            .map_err(|too_large| ServerError::new(too_large.to_string(), None))?;
        let request = request.data(limits::Measured(fields));
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(with_codes).boxed()
    }
}
