//! `etcdserverpb.Watch`: one bidirectional stream, many watches on it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::core::Shared;
use crate::generated::etcdserverpb::watch_request::RequestUnion;
use crate::generated::etcdserverpb::watch_server::Watch;
use crate::generated::etcdserverpb::{WatchRequest, WatchResponse};

pub(crate) struct WatchService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = UnboundedReceiverStream<Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        req: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
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
                    Some(RequestUnion::CreateRequest(create)) => core.watches.create(
                        &core.store,
                        &shared.info,
                        shared.limits.max_request_bytes,
                        stream,
                        &create,
                    ),
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
