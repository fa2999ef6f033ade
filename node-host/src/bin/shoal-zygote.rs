//! The runtime helper as a program of its own: serves the socket given as fd 3 (see
//! `node_host::runtime::zygote::spawn_command`). The `shoal` binary forks its zygote
//! instead; this one exists for callers that are already multi-threaded when they need
//! one, such as the runtime's tests.

fn main() {
    node_host::runtime::zygote::serve_from_env();
    eprintln!("shoal-zygote: start it through node_host::runtime::zygote::spawn_command ({} unset)", node_host::runtime::zygote::FD_ENV);
    std::process::exit(2);
}
