//! The `shoal` command: runs cluster components (`up`, `server`) and talks to a cluster
//! (`apply`, `get`, `delete`).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};

mod cmd;
mod manifest;

use cmd::Client;

/// mimalloc returns freed memory to the system far better than glibc's per-thread arenas
/// do under the control plane's many threads (see benches/scale.rs for the figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use cmd::cluster::{ServeOptions, StoreChoice};

#[derive(Parser)]
#[command(name = "shoal", version, about = "A container orchestrator built as a supervised actor system")]
struct Cli {
    /// API server URL for client commands.
    #[arg(long, global = true, env = "SHOAL_SERVER", default_value = "http://127.0.0.1:6443")]
    server: String,
    #[command(subcommand)]
    command: Command,
}

/// How `up` and `server` serve the API, and their controllers' tunables.
#[derive(clap::Args, Clone)]
struct ServeFlags {
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: String,
    /// Where to write a kubeconfig for this cluster (default: DATA_DIR/kubeconfig).
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Seconds between compactions of store history (0: never).
    #[arg(long, default_value_t = 300)]
    compact_interval: u64,
    #[command(flatten)]
    control: ControlFlags,
}

impl ServeFlags {
    fn options(&self, store: StoreChoice, simulated_nodes: usize) -> Result<ServeOptions> {
        Ok(ServeOptions {
            store,
            listen: self.listen.clone(),
            kubeconfig_out: self.kubeconfig_out.clone(),
            workers: self.workers,
            compact_interval: std::time::Duration::from_secs(self.compact_interval),
            control: self.control.config()?,
            allocator: self.control.allocator()?,
            controllers: !self.control.no_controllers,
            simulated_nodes,
            node: None,
            import_images: None,
        })
    }
}

/// Tunables of the controllers, shared by `up` and `server`.
#[derive(clap::Args, Clone)]
struct ControlFlags {
    /// Restart budget: at most this many restarts of one actor…
    #[arg(long, default_value_t = actors::controller::defaults::RESTART_LIMIT)]
    restart_limit: u32,
    /// …within this many seconds; one more escalates to its supervisor.
    #[arg(long, default_value_t = actors::controller::defaults::RESTART_WINDOW_SECS)]
    restart_window: u64,
    /// Seconds without a lease renewal before a node becomes NotReady.
    #[arg(long, default_value_t = actors::controller::defaults::NODE_GRACE_SECS)]
    node_grace: u64,
    /// Seconds pods stay on a NotReady node before they are evicted.
    #[arg(long, default_value_t = actors::controller::defaults::EVICTION_TIMEOUT_SECS)]
    eviction_timeout: u64,
    /// Range Service ClusterIPs are allocated from.
    #[arg(long, default_value = actors::allocator::DEFAULT_SERVICE_CIDR)]
    service_cluster_ip_range: String,
    /// Range NodePorts are allocated from.
    #[arg(long, default_value = actors::allocator::DEFAULT_NODE_PORTS)]
    service_node_port_range: String,
    /// Range the nodes' pod CIDRs are allocated from.
    #[arg(long, default_value = actors::controllers::nodeipam::DEFAULT_CLUSTER_CIDR)]
    cluster_cidr: String,
    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = actors::controllers::nodeipam::DEFAULT_NODE_CIDR_MASK)]
    node_cidr_mask_size: u8,
    /// The UDP port of every node's overlay.
    #[arg(long, default_value_t = api::network::DEFAULT_OVERLAY_PORT)]
    overlay_port: u16,
    /// The cluster DNS domain.
    #[arg(long, default_value = api::network::DEFAULT_DOMAIN)]
    cluster_domain: String,
    /// The first back-off (ms) after a Job's pod fails; it doubles per failure up to 6 min.
    #[arg(long, default_value_t = actors::controller::defaults::JOB_BACKOFF_BASE_MS)]
    job_backoff_base_ms: u64,
    /// Serve the API only, without the controllers (e.g. to measure the gateway alone).
    #[arg(long)]
    no_controllers: bool,
    /// For tests only: run the controllers' clock this many times as fast as real time
    /// (CronJob schedules); hidden from --help, not part of the CLI contract.
    #[arg(long, hide = true, default_value_t = 1.0)]
    test_clock_speed: f64,
    /// Seconds between two syncs of each HorizontalPodAutoscaler.
    #[arg(long, default_value_t = actors::controller::defaults::HPA_SYNC_PERIOD_SECS)]
    hpa_sync_period: f64,
    /// Seconds an HPA waits, after its recommendations fell, before it scales down (when
    /// its behavior sets no scaleDown window).
    #[arg(long, default_value_t = actors::controller::defaults::HPA_DOWNSCALE_STABILIZATION_SECS)]
    hpa_downscale_stabilization: f64,
    /// The relative change of a metric's ratio an HPA ignores.
    #[arg(long, default_value_t = 0.1)]
    hpa_tolerance: f64,
}

impl ControlFlags {
    fn allocator(&self) -> Result<actors::allocator::AllocatorConfig> {
        actors::allocator::AllocatorConfig::new(&self.service_cluster_ip_range, &self.service_node_port_range)
            .map_err(|e| anyhow!("invalid service range: {e}"))
    }

    fn config(&self) -> Result<actors::controller::ControlConfig> {
        use std::time::Duration;
        let node_ipam = actors::controllers::nodeipam::NodeIpamConfig::new(&self.cluster_cidr, self.node_cidr_mask_size)
            .map_err(|e| anyhow!("invalid --cluster-cidr/--node-cidr-mask-size: {e}"))?;
        Ok(actors::controller::ControlConfig {
            restart_limit: self.restart_limit,
            restart_window: Duration::from_secs(self.restart_window),
            node_grace: Duration::from_secs(self.node_grace),
            eviction_timeout: Duration::from_secs(self.eviction_timeout),
            // Known once the listener is bound (`cmd::cluster`).
            api_server: None,
            node_ipam,
            overlay_port: self.overlay_port,
            cluster_domain: self.cluster_domain.clone(),
            job_backoff_base: Duration::from_millis(self.job_backoff_base_ms),
            job_backoff_max: Duration::from_secs(actors::controller::defaults::JOB_BACKOFF_MAX_SECS),
            clock: self.clock()?,
            hpa: self.hpa()?,
            metrics: actors::metrics::MetricsRegistry::shared(),
        })
    }

    fn hpa(&self) -> Result<actors::controllers::hpa::HpaConfig> {
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(std::time::Duration::from_secs_f64(v))
            } else {
                Err(anyhow!("--{flag} must be a number of seconds, not {v}"))
            }
        };
        if !(self.hpa_tolerance.is_finite() && self.hpa_tolerance >= 0.0) {
            return Err(anyhow!("--hpa-tolerance must be a non-negative number, not {}", self.hpa_tolerance));
        }
        let sync_period = secs("hpa-sync-period", self.hpa_sync_period)?.max(std::time::Duration::from_millis(100));
        Ok(actors::controllers::hpa::HpaConfig {
            sync_period,
            downscale_stabilization: secs("hpa-downscale-stabilization", self.hpa_downscale_stabilization)?,
            tolerance: self.hpa_tolerance,
            ..Default::default()
        })
    }

    fn clock(&self) -> Result<std::sync::Arc<dyn actors::controller::Clock>> {
        use actors::controller::clock::{ScaledClock, SystemClock};
        let speed = self.test_clock_speed;
        if !(speed.is_finite() && speed > 0.0) {
            return Err(anyhow!("--test-clock-speed must be a positive number, not {speed}"));
        }
        Ok(if speed == 1.0 { std::sync::Arc::new(SystemClock) } else { std::sync::Arc::new(ScaledClock::new(speed)) })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole single-node cluster in this process on the embedded store.
    Up {
        #[arg(long, default_value = ".shoal")]
        data_dir: PathBuf,
        #[command(flatten)]
        serve: ServeFlags,
        /// Also run this many simulated nodes (pods go Running without containers).
        #[arg(long, default_value_t = 0)]
        simulated_nodes: usize,
        /// Run no real node (only the control plane, and simulated nodes if asked).
        #[arg(long)]
        no_node: bool,
        /// The real node's name (default: this machine's hostname).
        #[arg(long)]
        node_name: Option<String>,
        /// Where the real node keeps its state (default: DATA_DIR/node).
        #[arg(long)]
        node_root: Option<PathBuf>,
        /// The real node's server port (logs, exec, attach, port-forward).
        #[arg(long, default_value_t = 10250)]
        kubelet_port: u16,
        /// Import the image archives (*.tar) in this directory when the cluster holds none.
        #[arg(long)]
        import_images: Option<PathBuf>,
    },
    /// Run the control plane only, on etcd (--store) or on the embedded store (--data-dir).
    Server {
        /// etcd://HOST:PORT[,HOST:PORT]
        #[arg(long, conflicts_with = "data_dir")]
        store: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        serve: ServeFlags,
    },
    /// Run a node-host (`--simulate`: fake nodes that report pods Running, like kwok).
    Node {
        /// Node name (with --count: NAME-0 … NAME-{N-1}).
        #[arg(long)]
        name: String,
        /// InternalIP of the node (of the first one with --count; the others count up).
        #[arg(long)]
        node_ip: Option<std::net::Ipv4Addr>,
        /// Run pods as fake processes instead of containers.
        #[arg(long)]
        simulate: bool,
        /// Simulate this many nodes in one process.
        #[arg(long)]
        count: Option<u32>,
        /// leaseDurationSeconds of each node's Lease (renewed every quarter of it).
        #[arg(long, default_value_t = 10)]
        lease_seconds: u64,
        #[arg(long, default_value = "8")]
        cpu: String,
        #[arg(long, default_value = "32Gi")]
        memory: String,
        #[arg(long, default_value = "110")]
        pods: String,
        /// Node label KEY=VALUE (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Where a real node keeps its state (default /var/lib/shoal/NAME).
        #[arg(long)]
        root_dir: Option<PathBuf>,
        /// The port of a real node's server (logs, exec, attach, port-forward).
        #[arg(long, default_value_t = 10250)]
        kubelet_port: u16,
        /// Seconds between the node's usage reports (the window of `kubectl top`).
        #[arg(long, default_value_t = 5.0)]
        usage_interval: f64,
    },
    /// Create or update the objects in a file or directory.
    Apply {
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Show objects of a kind (`shoal get deploy`, `shoal get pods web-1 -o yaml`).
    Get {
        kind: String,
        name: Option<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// json, yaml, wide or name
        #[arg(short = 'o', long)]
        output: Option<String>,
        #[arg(short = 'l', long)]
        selector: Option<String>,
    },
    /// Delete objects by kind and name, or those in a file.
    Delete {
        kind: Option<String>,
        names: Vec<String>,
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// background, orphan or foreground
        #[arg(long, default_value = "background")]
        cascade: String,
    },
    /// Manage a Deployment's rollout: status, history, undo, pause, resume, restart.
    Rollout {
        #[command(subcommand)]
        command: cmd::rollout::RolloutCommand,
    },
    /// Print a container's logs (`shoal logs web -c app -f --tail 10`).
    Logs(cmd::logs::LogsArgs),
    /// Set the replicas of a Deployment, ReplicaSet, ReplicationController or StatefulSet.
    Scale(cmd::scale::ScaleArgs),
    /// Change fields of objects (`set image`).
    Set {
        #[command(subcommand)]
        command: cmd::set_image::SetCommand,
    },
    /// Kill things on purpose (`kill actor KIND/NAMESPACE/NAME`).
    Kill {
        #[command(subcommand)]
        command: cmd::kill::KillCommand,
    },
    /// Images without a registry: `image import FILE…`, `image ls`.
    Image {
        #[command(subcommand)]
        command: cmd::image::ImageCommand,
    },
    /// Run a scenario file: operations, faults, waits and assertions, with a timeline.
    Run {
        scenario: PathBuf,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn kind(name: &str) -> Result<&'static api::model::KindInfo> {
    api::model::kind_by_name(name)
        .ok_or_else(|| anyhow!("the server doesn't have a resource type {name:?}"))
}

/// The real node of `shoal up`, when this machine can run containers; otherwise says
/// what it lacks and goes on with the control plane alone.
fn local_node(
    data_dir: &std::path::Path,
    name: Option<&str>,
    root: Option<&PathBuf>,
    kubelet_port: u16,
    zygote: Option<node_host::runtime::Zygote>,
) -> Option<cmd::cluster::LocalNode> {
    let ready = cmd::node::check_privileges().and_then(|()| zygote.ok_or_else(|| anyhow!("the container runtime's helper did not start")));
    match ready {
        Ok(zygote) => Some(cmd::cluster::LocalNode {
            name: name.map(str::to_string).unwrap_or_else(default_node_name),
            root_dir: root.cloned().unwrap_or_else(|| data_dir.join("node")),
            kubelet_port,
            zygote,
        }),
        Err(e) => {
            println!("no node runs in this cluster: {e:#}; pods stay Pending (run as root, or use --simulated-nodes N for nodes without containers)");
            None
        }
    }
}

/// This machine's hostname, as a node name (lower case, as the kubelet does).
fn default_node_name() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).map(|h| h.to_lowercase()).filter(|h| !h.is_empty()).unwrap_or_else(|| "node".into())
}

fn main() {
    let cli = Cli::parse();
    // The container runtime's helper is forked first, while this process has one thread
    // (node_host::runtime::zygote says why); a no-op unless root.
    let zygote = match &cli.command {
        Command::Up { no_node: false, .. } | Command::Node { simulate: false, .. } => node_host::runtime::zygote::spawn_if_needed(),
        _ => None,
    };
    if let Err(e) = run(cli, zygote) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli, zygote: Option<node_host::runtime::Zygote>) -> Result<()> {
    let client = || Client::new(&cli.server).context("setting up the API client");
    match &cli.command {
        Command::Up { data_dir, serve, simulated_nodes, no_node, node_name, node_root, kubelet_port, import_images } => {
            init_logging();
            let mut opts = serve.options(StoreChoice::Embedded(data_dir.clone()), *simulated_nodes)?;
            opts.import_images = import_images.clone();
            if !*no_node {
                opts.node = local_node(data_dir, node_name.as_deref(), node_root.as_ref(), *kubelet_port, zygote);
            }
            cmd::cluster::run(opts)
        }
        Command::Server { store, data_dir, serve } => {
            init_logging();
            let store = match (store, data_dir) {
                (Some(url), _) => StoreChoice::etcd(url)?,
                (None, Some(dir)) => StoreChoice::Embedded(dir.clone()),
                (None, None) => return Err(anyhow!("shoal server needs --store etcd://HOST:PORT or --data-dir DIR")),
            };
            cmd::cluster::run(serve.options(store, 0)?)
        }
        Command::Node { name, node_ip, simulate, count, lease_seconds, cpu, memory, pods, labels, root_dir, kubelet_port, usage_interval } => {
            init_logging();
            cmd::node::run(
                cmd::node::NodeOptions {
                server: &cli.server,
                name,
                node_ip: *node_ip,
                simulate: *simulate,
                count: *count,
                lease_seconds: *lease_seconds,
                cpu,
                memory,
                pods,
                labels,
                root_dir: root_dir.clone(),
                kubelet_port: *kubelet_port,
                usage_interval: *usage_interval,
            },
                zygote,
            )
        }
        Command::Apply { file, namespace } => cmd::apply::run(&client()?, file, namespace),
        Command::Get { kind: k, name, namespace, all_namespaces, output, selector } => cmd::get::run(
            &client()?,
            kind(k)?,
            name.as_deref(),
            &cmd::get::GetOptions {
                namespace,
                all_namespaces: *all_namespaces,
                output: output.as_deref(),
                selector: selector.as_deref(),
            },
        ),
        Command::Delete { kind: k, names, file, namespace, cascade } => match (file, k) {
            (Some(f), _) => cmd::delete::from_file(&client()?, f, namespace, cascade),
            (None, Some(k)) if !names.is_empty() => cmd::delete::by_name(&client()?, kind(k)?, namespace, names, cascade),
            _ => Err(anyhow!("usage: shoal delete KIND NAME... or shoal delete -f FILE")),
        },
        Command::Rollout { command } => cmd::rollout::run(&client()?, command),
        Command::Scale(args) => cmd::scale::run(&client()?, args),
        Command::Logs(args) => cmd::logs::run(&client()?, args),
        Command::Set { command } => cmd::set_image::run(&client()?, command),
        Command::Kill { command } => cmd::kill::run(&client()?, command),
        Command::Image { command } => cmd::image::run(&client()?, command),
        Command::Run { scenario, namespace } => cmd::scenario::run(&client()?, scenario, namespace),
    }
}
