//! Reads the cluster's network configuration from the control plane's ConfigMap
//! (`kube-system/shoal-network`, see `api::network`), waiting for it as a node waits for
//! its pod CIDR: a node never guesses ranges the control plane did not set.

use std::time::Duration;

use api::model::ConfigMap;
use api::network::{NetworkConfig, CONFIG_NAME, CONFIG_NAMESPACE};

/// The configuration, once the ConfigMap exists and reads well; logs why it waits.
pub async fn wait_network_config(api: &client::Client) -> NetworkConfig {
    let mut delay = Duration::from_millis(100);
    let mut said = false;
    loop {
        let why = match api.api::<ConfigMap>(Some(CONFIG_NAMESPACE)).get_opt(CONFIG_NAME).await {
            Ok(Some(c)) => match NetworkConfig::from_data(&c.data) {
                Ok(cfg) => return cfg,
                Err(e) => e.to_string(),
            },
            Ok(None) => format!("ConfigMap {CONFIG_NAMESPACE}/{CONFIG_NAME} does not exist yet"),
            Err(e) => format!("reading ConfigMap {CONFIG_NAMESPACE}/{CONFIG_NAME}: {e}"),
        };
        if !said {
            tracing::info!(reason = %why, "waiting for the cluster network configuration");
            said = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
