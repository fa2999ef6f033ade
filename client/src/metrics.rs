//! The node's side of the metrics APIs: posting a usage report to the control plane.

use api::metrics::{UsageReport, REPORT_CONTENT_TYPE, REPORT_PATH};

use crate::error::Error;
use crate::http::{Client, Request};

impl Client {
    /// Posts a node's usage report (bincode), which replaces its previous one.
    pub async fn report_usage(&self, report: &UsageReport) -> Result<(), Error> {
        let req = Request::new("POST", REPORT_PATH).header("Accept", "application/json").body(REPORT_CONTENT_TYPE, report.encode());
        self.send(req).await.map(|_| ())
    }
}
