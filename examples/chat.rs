//! A terminal chat over gossipsub, on TCP and QUIC, with mDNS discovery on the local network.
//!
//! Start one copy:
//!
//! ```sh
//! cargo run --example chat
//! ```
//!
//! It prints one `listening on <multiaddr>/p2p/<peer id>` line per listen address. Start a
//! second copy in another terminal: on the same LAN mDNS finds the first one by itself;
//! otherwise pass one of those lines' addresses with `--dial`:
//!
//! ```sh
//! cargo run --example chat -- --dial /ip4/127.0.0.1/tcp/40001/p2p/12D3KooW...
//! ```
//!
//! Every line typed on stdin is published on the topic (`--topic`, default `chat`); every
//! message received is printed as `<peer id>: <text>`. Stdout carries only those two kinds of
//! lines and, with `--metrics`, one `metrics at http://<addr>/metrics` line first; connections,
//! errors and logs (`RUST_LOG`) go to stderr. The program keeps running
//! after stdin is closed (so it can be driven by a pipe) and exits on Ctrl-C.
//!
//! Flags: `--listen <multiaddr>` and `--dial <multiaddr>` (both repeatable), `--topic <name>`,
//! `--no-mdns`, `--metrics <ip:port>` (serve gossipsub's Prometheus metrics at `/metrics` in
//! the OpenMetrics text format; port 0 picks a free one; the chat topic gets its own label).
//!
//! Identify runs alongside, built with a signed peer record: every record it receives is
//! handed to gossipsub, which offers it in peer exchange when it prunes a mesh.

use std::collections::HashMap;
use std::io::Write;

use clap::Parser;
use gossipsub::{IdentTopic, MessageAuthenticity};
use libp2p::futures::StreamExt;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, NetworkBehaviour, Swarm, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, mdns, noise, tcp, yamux};
use tokio::io::{AsyncBufReadExt, BufReader, Lines, Stdin};

/// Every interface, a random port, TCP and QUIC.
const DEFAULT_LISTEN: [&str; 2] = ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"];

#[derive(Parser, Debug)]
#[command(about = "Chat over gossipsub (TCP and QUIC, mDNS discovery)")]
struct Args {
    /// Address to listen on (repeatable).
    #[arg(long, value_name = "MULTIADDR", default_values = DEFAULT_LISTEN)]
    listen: Vec<Multiaddr>,
    /// Address of a peer to dial (repeatable), e.g. a `listening on` line of another copy.
    #[arg(long, value_name = "MULTIADDR")]
    dial: Vec<Multiaddr>,
    /// The topic to chat on.
    #[arg(long, value_name = "NAME", default_value = "chat")]
    topic: String,
    /// Do not discover peers with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// Serve Prometheus metrics on this address at `/metrics` (e.g. 127.0.0.1:9090).
    #[cfg(feature = "metrics")]
    #[arg(long, value_name = "IP:PORT")]
    metrics: Option<std::net::SocketAddr>,
}

#[derive(NetworkBehaviour)]
struct Chat {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Writes one line to stdout and flushes it, so that pipes see it at once.
fn print_line(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // A closed stdout is no reason to stop chatting.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let topic = IdentTopic::new(args.topic.clone());
    #[cfg(feature = "metrics")]
    let mut registry = prometheus_client::registry::Registry::default();

    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(|key| {
            let gossipsub = gossipsub::Behaviour::new(
                MessageAuthenticity::Signed(key.clone()),
                gossipsub::Config::default(),
            )?;
            #[cfg(feature = "metrics")]
            let gossipsub = gossipsub.with_metrics(
                &mut registry,
                gossipsub::metrics::MetricsConfig::new().with_topic(topic.hash()),
            );
            let mdns = if args.no_mdns {
                None
            } else {
                let peer_id = key.public().to_peer_id();
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            };
            let identify = identify::Behaviour::new(identify::Config::new_with_signed_peer_record(
                "/gossipsub-chat/1.0.0".to_owned(),
                key,
            ));
            Ok(Chat {
                gossipsub,
                identify,
                mdns: Toggle::from(mdns),
            })
        })?
        .build();

    #[cfg(feature = "metrics")]
    if let Some(addr) = args.metrics {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        print_line(format_args!(
            "metrics at http://{}/metrics",
            listener.local_addr()?
        ));
        tokio::spawn(metrics_http::serve(listener, std::sync::Arc::new(registry)));
    }
    swarm.behaviour_mut().gossipsub.subscribe(&topic)?;
    for addr in &args.listen {
        swarm.listen_on(addr.clone())?;
    }
    for addr in &args.dial {
        swarm.dial(addr.clone())?;
    }

    let mut stdin = Some(BufReader::new(tokio::io::stdin()).lines());
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);

    loop {
        tokio::select! {
            _ = &mut ctrl_c => break,
            line = read_line(&mut stdin), if stdin.is_some() => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    if let Err(e) = swarm.behaviour_mut().gossipsub.publish(topic.clone(), line) {
                        eprintln!("publish failed: {e}");
                    }
                }
                // End of input: keep chatting, only stop reading.
                Ok(None) => stdin = None,
                Err(e) => {
                    eprintln!("stdin: {e}");
                    stdin = None;
                }
            },
            event = swarm.select_next_some() => on_swarm_event(&mut swarm, event),
        }
    }
    Ok(())
}

type StdinLines = Lines<BufReader<Stdin>>;

async fn read_line(stdin: &mut Option<StdinLines>) -> std::io::Result<Option<String>> {
    match stdin {
        Some(lines) => lines.next_line().await,
        None => Ok(None),
    }
}

fn on_swarm_event(swarm: &mut Swarm<Chat>, event: SwarmEvent<ChatEvent>) {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            let peer_id = swarm.local_peer_id();
            print_line(format_args!("listening on {address}/p2p/{peer_id}"));
        }
        SwarmEvent::ConnectionEstablished { peer_id, .. } => eprintln!("connected to {peer_id}"),
        SwarmEvent::OutgoingConnectionError { error, .. } => eprintln!("dial failed: {error}"),
        SwarmEvent::Behaviour(ChatEvent::Gossipsub(gossipsub::Event::Message {
            propagation_source,
            message,
            ..
        })) => {
            let from = message.source.unwrap_or(propagation_source);
            let text = String::from_utf8_lossy(&message.data);
            print_line(format_args!("{from}: {text}"));
        }
        SwarmEvent::Behaviour(ChatEvent::Identify(identify::Event::Received { info, .. })) => {
            // Signed records feed gossipsub's peer exchange.
            if let Some(envelope) = info.signed_peer_record
                && let Err(e) = swarm.behaviour_mut().gossipsub.add_peer_record(envelope)
            {
                eprintln!("invalid signed peer record: {e}");
            }
        }
        SwarmEvent::Behaviour(ChatEvent::Mdns(mdns::Event::Discovered(found))) => {
            let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
            for (peer, addr) in found {
                by_peer.entry(peer).or_default().push(addr);
            }
            for (peer, addrs) in by_peer {
                // Dials only if we are not connected to the peer yet.
                match swarm.dial(DialOpts::peer_id(peer).addresses(addrs).build()) {
                    Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => {}
                    Err(e) => eprintln!("cannot dial {peer}: {e}"),
                }
            }
        }
        _ => {}
    }
}

/// The `/metrics` endpoint: hyper's HTTP/1.1 server, one task per connection.
#[cfg(feature = "metrics")]
mod metrics_http {
    use std::convert::Infallible;
    use std::sync::Arc;

    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::header::CONTENT_TYPE;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Method, Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;
    use tokio::net::TcpListener;

    const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Accepts connections until the process exits.
    pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("metrics: accept failed: {e}");
                    continue;
                }
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = respond(&registry, &request);
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    eprintln!("metrics: connection failed: {e}");
                }
            });
        }
    }

    fn respond(registry: &Registry, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let reply = |status, content_type, body: String| {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(content_type),
            );
            response
        };
        if request.method() != Method::GET || request.uri().path() != "/metrics" {
            return reply(StatusCode::NOT_FOUND, "text/plain", "GET /metrics\n".into());
        }
        let mut body = String::new();
        match encode(&mut body, registry) {
            Ok(()) => reply(StatusCode::OK, OPENMETRICS, body),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("encoding failed: {e}\n"),
            ),
        }
    }
}
