//! One query in, one response out: the zone's answer when the name is the cluster's,
//! the upstream's answer relayed when it is not, SERVFAIL when no upstream answers.
//! Truncation to the client's UDP size (512 without EDNS) is the encoder's: it sets TC.

use std::iter;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use super::forward::forward;
use super::Shared;
use crate::records::Records;

pub(crate) struct Handler {
    shared: Arc<Shared>,
}

impl Handler {
    pub(crate) fn new(shared: Arc<Shared>) -> Handler {
        Handler { shared }
    }

    async fn respond<R: ResponseHandler>(&self, request: &Request, edns: Option<&Edns>, handle: R) -> ResponseInfo {
        let builder = MessageResponseBuilder::new(&request.queries, edns);
        if request.metadata.message_type != MessageType::Query || request.metadata.op_code != OpCode::Query {
            return send(handle, builder.error_msg(&request.metadata, ResponseCode::NotImp), &request.metadata).await;
        }
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return send(handle, builder.error_msg(&request.metadata, ResponseCode::BADVERS), &request.metadata).await;
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return send(handle, builder.error_msg(&request.metadata, ResponseCode::FormErr), &request.metadata).await;
        };
        let query = info.query.original();
        let records = self.shared.records();
        let answer = records.answer_name(query.name(), query.query_type());
        if answer.is_forward() || query.query_class() != DNSClass::IN {
            return self.relay(request, query, edns, handle).await;
        }

        let mut answers = answer.answers;
        if let Some(target) = dangling_cname(&records, &answers, query.query_type()) {
            // An ExternalName leaving the zone: stub resolvers expect the whole chain.
            let chase = Query::query(target, query.query_type());
            let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
            let timeout = self.shared.upstream_timeout;
            match forward(&self.shared.upstream, timeout, &chase, true, dnssec_ok).await {
                Ok(m) if m.metadata.response_code == ResponseCode::NoError => answers.extend(m.answers),
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "could not follow an ExternalName CNAME upstream"),
            }
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        metadata.recursion_available = true;
        metadata.response_code = answer.rcode.response_code();
        let response = builder.build(metadata, answers.iter(), answer.authority.iter(), iter::empty(), answer.additionals.iter());
        send(handle, response, &request.metadata).await
    }

    async fn relay<R: ResponseHandler>(&self, request: &Request, query: &Query, edns: Option<&Edns>, handle: R) -> ResponseInfo {
        let builder = MessageResponseBuilder::new(&request.queries, edns);
        self.shared.metrics.record_forwarded();
        let dnssec_ok = request.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let upstream: Message = match forward(
            &self.shared.upstream,
            self.shared.upstream_timeout,
            query,
            request.metadata.recursion_desired,
            dnssec_ok,
        )
        .await
        {
            Ok(m) => m,
            Err(error) => {
                self.shared.metrics.record_forward_failure();
                tracing::warn!(name = %query.name(), qtype = %query.query_type(), %error, "forwarding failed");
                return send(handle, builder.error_msg(&request.metadata, ResponseCode::ServFail), &request.metadata)
                    .await;
            }
        };
        let mut metadata = upstream.metadata;
        metadata.id = request.metadata.id;
        metadata.recursion_desired = request.metadata.recursion_desired;
        metadata.checking_disabled = request.metadata.checking_disabled;
        let response = builder.build(
            metadata,
            upstream.answers.iter(),
            upstream.authorities.iter(),
            iter::empty(),
            upstream.additionals.iter(),
        );
        send(handle, response, &request.metadata).await
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, handle: R) -> ResponseInfo {
        // Answer with EDNS when asked with it; the client's payload size bounds UDP answers.
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512)).set_version(0);
            edns
        });
        let info = self.respond(request, edns.as_ref(), handle).await;
        self.shared.metrics.record_response(info.response_code);
        info
    }
}

/// The target of a CNAME that ends the answer and leaves the zone, for A and AAAA.
fn dangling_cname(records: &Records, answers: &[Record], qtype: RecordType) -> Option<Name> {
    if qtype != RecordType::A && qtype != RecordType::AAAA {
        return None;
    }
    match answers.last().map(|r| &r.data) {
        Some(RData::CNAME(cname)) if !records.in_zone(&cname.0.to_ascii()) => Some(cname.0.clone()),
        _ => None,
    }
}

async fn send<'a, R: ResponseHandler>(
    mut handle: R,
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    request: &Metadata,
) -> ResponseInfo {
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            tracing::warn!(%error, id = request.id, "sending a DNS response failed");
            let mut metadata = Metadata::response_from_request(request);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_proto::op::Header { metadata, counts: Default::default() })
        }
    }
}
