//! Event: a record of something that happened to an object (core/v1 `events`), and the
//! events.k8s.io/v1 view of the same stored objects ([`EventV1`]), converted field by
//! field as Kubernetes does (`regarding` = `involvedObject`, `note` = `message`,
//! `reportingController` = `reportingComponent`, `deprecated*` = the legacy fields).

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{KindInfo, ObjectMeta};

pub const EVENT_INFO: KindInfo = KindInfo {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &["ev"],
    categories: &[],
    has_status: false,
    has_scale: false,
};

/// events.k8s.io/v1: same store keys (`/registry/events/…`), another shape.
pub const EVENT_V1_INFO: KindInfo = KindInfo {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub involved_object: ObjectReference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// MicroTime (`2026-01-02T03:04:05.000000Z`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

crate::impl_resource!(Event, EVENT_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSeries {
    pub count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<String>,
}

/// The events.k8s.io/v1 Event. Stored as the core [`Event`] it converts to (its bincode
/// form is the core form), so both API groups read and write the same objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct EventV1 {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_controller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regarding: Option<ObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated_source: Option<EventSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated_first_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated_last_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated_count: Option<i32>,
}

crate::impl_resource!(EventV1, EVENT_V1_INFO);

/// `2026-01-02T03:04:05Z` → MicroTime `2026-01-02T03:04:05.000000Z`.
pub fn micro_time(ts: &str) -> String {
    crate::time::parse(ts).map(crate::time::micro).unwrap_or_else(|| ts.to_string())
}

impl From<Event> for EventV1 {
    fn from(e: Event) -> Self {
        let series = e.series.clone().or_else(|| {
            e.count
                .filter(|c| *c > 1)
                .map(|count| EventSeries { count, last_observed_time: e.last_timestamp.as_deref().map(micro_time) })
        });
        EventV1 {
            api_version: EVENT_V1_INFO.api_version(),
            kind: "Event".into(),
            metadata: e.metadata,
            event_time: e.event_time.or_else(|| e.first_timestamp.as_deref().map(micro_time)),
            series,
            reporting_controller: e
                .reporting_component
                .or_else(|| e.source.as_ref().and_then(|s| s.component.clone())),
            reporting_instance: e.reporting_instance.or_else(|| e.source.as_ref().and_then(|s| s.host.clone())),
            action: e.action,
            reason: e.reason,
            regarding: Some(e.involved_object),
            related: e.related,
            note: e.message,
            type_: e.type_,
            deprecated_source: e.source,
            deprecated_first_timestamp: e.first_timestamp,
            deprecated_last_timestamp: e.last_timestamp,
            deprecated_count: e.count,
        }
    }
}

impl From<EventV1> for Event {
    fn from(e: EventV1) -> Self {
        let count = e.deprecated_count.or_else(|| e.series.as_ref().map(|s| s.count));
        Event {
            api_version: EVENT_INFO.api_version(),
            kind: "Event".into(),
            metadata: e.metadata,
            involved_object: e.regarding.unwrap_or_default(),
            reason: e.reason,
            message: e.note,
            source: e.deprecated_source,
            first_timestamp: e.deprecated_first_timestamp,
            last_timestamp: e.deprecated_last_timestamp,
            count,
            type_: e.type_,
            event_time: e.event_time,
            series: e.series,
            action: e.action,
            related: e.related,
            reporting_component: e.reporting_controller,
            reporting_instance: e.reporting_instance,
        }
    }
}

impl Encode for EventV1 {
    fn encode<E: bincode::enc::Encoder>(&self, encoder: &mut E) -> Result<(), bincode::error::EncodeError> {
        Event::from(self.clone()).encode(encoder)
    }
}

impl<C> Decode<C> for EventV1 {
    fn decode<D: bincode::de::Decoder<Context = C>>(decoder: &mut D) -> Result<Self, bincode::error::DecodeError> {
        Event::decode(decoder).map(EventV1::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use serde_json::json;

    fn core() -> Event {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.17f0a", "namespace": "default"},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web", "uid": "u1"},
            "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-abc to 3",
            "source": {"component": "deployment-controller"},
            "firstTimestamp": "2026-01-02T03:04:05Z", "lastTimestamp": "2026-01-02T03:04:09Z",
            "count": 2, "type": "Normal", "reportingComponent": "deployment-controller"
        }))
        .unwrap()
    }

    #[test]
    fn the_v1_view_reads_the_stored_core_event() {
        let bytes = encode(&core()).unwrap();
        let v1: EventV1 = decode(&bytes).unwrap();
        let v = serde_json::to_value(&v1).unwrap();
        assert_eq!(v["apiVersion"], "events.k8s.io/v1");
        assert_eq!(v["regarding"]["name"], "web");
        assert_eq!(v["note"], "Scaled up replica set web-abc to 3");
        assert_eq!(v["reportingController"], "deployment-controller");
        assert_eq!(v["series"]["count"], 2);
        assert_eq!(v["eventTime"], "2026-01-02T03:04:05.000000Z");
        assert_eq!(v["deprecatedCount"], 2);
        // And back: the v1 form stores the same core event (plus the series it showed).
        let back: Event = decode(&encode(&v1).unwrap()).unwrap();
        assert_eq!(back.involved_object, core().involved_object);
        assert_eq!(back.message, core().message);
        assert_eq!(back.count, Some(2));
        assert_eq!(back.first_timestamp, core().first_timestamp);
    }

    #[test]
    fn core_event_round_trips_and_validates() {
        let e = core();
        let back: Event = decode(&encode(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(crate::model::Validate::validate(&e), vec![]);
    }
}
