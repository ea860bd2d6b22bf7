//! `etcdserverpb.Watch`: one bidirectional stream, many watches on it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::check;
use crate::auth::perms::Access;
use crate::core::{Core, Shared};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::watch_request::RequestUnion;
use crate::generated::etcdserverpb::watch_server::Watch;
use crate::generated::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};

pub(crate) struct WatchService(pub(crate) Arc<Shared>);

/// Whether the stream's token may watch what `create` names: read permission over its
/// keys (etcd first makes an empty key `"\0"`, the smallest key).
fn may_watch(
    core: &mut Core,
    token: Option<&str>,
    create: &WatchCreateRequest,
) -> Result<(), EtcdError> {
    let caller = core.caller(token)?;
    let key: &[u8] = if create.key.is_empty() {
        b"\0"
    } else {
        &create.key
    };
    core.auth
        .check(&caller, Access::Read, key, &create.range_end)
}

/// The cancel reason etcd gives a refused watch: the gRPC error's text as Go prints it,
/// code and all (checked against etcd 3.6.16).
fn refusal(e: EtcdError) -> &'static str {
    match e {
        EtcdError::InvalidAuthToken => {
            "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"
        }
        EtcdError::UserEmpty => {
            "rpc error: code = InvalidArgument desc = etcdserver: user name is empty"
        }
        _ => "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = UnboundedReceiverStream<Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        req: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // etcd reads the token once, when the stream opens: a stream opened with a token
        // that later expires has its next watches refused, and the client opens a new one.
        let token = check::token(req.metadata());
        let mut inbound = req.into_inner();
        let (outbox, rx) = mpsc::unbounded_channel();
        let shared = Arc::clone(&self.0);
        let on_shutdown = outbox.clone();
        let stream = shared.lock().watches.open(outbox);
        tokio::spawn(async move {
            let mut shutdown = shared.shutdown.clone();
            loop {
                let msg = tokio::select! {
                    msg = inbound.message() => msg,
                    _ = shutdown.changed() => {
                        let _ = on_shutdown.send(Err(super::shutting_down()));
                        break;
                    }
                };
                // The client closed its side or the connection broke: its watches end.
                let Ok(Some(msg)) = msg else { break };
                let mut core = shared.lock();
                let current = core.store.revision();
                let core = &mut *core;
                match msg.request_union {
                    Some(RequestUnion::CreateRequest(create)) => {
                        match may_watch(core, token.as_deref(), &create) {
                            Ok(()) => core.watches.create(
                                &core.store,
                                &shared.info,
                                shared.limits.max_request_bytes,
                                stream,
                                &create,
                            ),
                            Err(e) => {
                                core.watches
                                    .refuse(&shared.info, current, stream, refusal(e));
                            }
                        }
                    }
                    Some(RequestUnion::CancelRequest(cancel)) => {
                        core.watches
                            .cancel(&shared.info, current, stream, cancel.watch_id);
                    }
                    Some(RequestUnion::ProgressRequest(_)) => {
                        core.watches.progress(&shared.info, current, stream);
                    }
                    None => {}
                }
            }
            // Dropping the stream's queue ends the response stream.
            shared.lock().watches.close(stream);
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }
}
