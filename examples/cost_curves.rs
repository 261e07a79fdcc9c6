//! Cost curves: how the CPU per received message, the heartbeat and the memory of one node grow
//! with the number of peers (10 → 1,000), of topics (1 → 1,000) and with the message size
//! (100 B → 1 MiB). One dimension moves at a time from a baseline of 100 peers, 1 topic and
//! 1 KiB messages.
//!
//! The node is our sans-IO `Router` driven in-process with its peers faked through its API (no
//! sockets, no async runtime), plus the codec the connection handler runs: each received
//! message arrives as an encoded frame, is decoded, handed to the router (signed, validated
//! strictly: Ed25519 verification included), and every RPC the router emits is encoded, as the
//! handler would before writing it. D=8, D_lo=6, D_hi=12, heartbeat 1 s (simulated time: the
//! clock is an `Instant` we pass, nothing sleeps), every peer subscribed to every topic, ten
//! messages per heartbeat, round-robin over the topics, each from a mesh peer of its topic.
//!
//! Measured per point:
//! - `cpu_per_msg`: cost of receiving one message (decode, verify, deliver, forward to the
//!   mesh, encode the forwards and IDONTWANTs). Either **instructions** (`--instructions`: the
//!   example re-runs itself under `valgrind --tool=callgrind` and brackets each window with
//!   callgrind client requests; repeatable on a shared machine) or **thread CPU time**, the
//!   minimum over `--runs` repetitions (noisy on a shared machine; labelled `ns`).
//! - `heartbeat`: cost of one heartbeat (mesh maintenance, gossip emission, cache shifts, and
//!   encoding the RPCs it emits), in the same unit, mean over the heartbeats of the window.
//! - `mem_idle`: live heap bytes of the node after connecting the peers and warming the mesh
//!   (a counting global allocator); `mem_loaded`: the same after the message window, with the
//!   message cache and seen cache at their steady size (received frames included).
//!
//! libp2p-gossipsub 0.50 is not in these curves: its `Behaviour` cannot be driven in-process
//! with faked connections, because the handler event that carries a received RPC
//! (`HandlerEvent::Message` with an `RpcIn`) is not exported, so nothing outside the crate can
//! deliver a subscription or a message to it; over real connections its per-point cost could
//! not be separated from its 1,000 peers' in one process (see BENCHMARKS.md, "Cost curves").
//! `examples/compare/` and `benches/callgrind.sh` are the side-by-side figures.
//!
//! Output: `<out>/cost_curves.csv` and one SVG per dimension (`peers.svg`, `topics.svg`,
//! `size.svg`), log-log.
//!
//! ```text
//! cargo run --release --features sim --example cost_curves -- --instructions --out target/cost-curves
//! cargo run --release --features sim --example cost_curves -- --quick      # CPU time, < 1 min
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use gossipsub::__bench::{Codec, signed_message};
use gossipsub::router::{Action, Router};
use gossipsub::{
    Config, ConfigBuilder, MessageAuthenticity, PeerKind, RawMessage, Rpc, Subscription, TopicHash,
    ValidationMode,
};
use libp2p::identity::{Keypair, PeerId};
use plotters::prelude::*;

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;

#[path = "../benches/support/callgrind.rs"]
mod callgrind;

use counting_alloc::{Counting, live};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Messages received per simulated heartbeat interval.
const MESSAGES_PER_HEARTBEAT: usize = 10;
const KIB: usize = 1024;
const MAX_TRANSMIT: usize = 2 * 1024 * KIB;

#[derive(Parser, Debug)]
#[command(about = "cost curves of one node: CPU per message, heartbeat and memory")]
struct Args {
    /// Fewer heartbeats and repetitions: about a minute with CPU time.
    #[arg(long)]
    quick: bool,
    /// Count instructions: re-run this example under `valgrind --tool=callgrind`.
    #[arg(long)]
    instructions: bool,
    /// Where the CSV and the SVGs go.
    #[arg(long, default_value = "target/cost-curves")]
    out: PathBuf,
    /// Repetitions of each point with CPU time (the minimum is kept); 1 with `--instructions`.
    #[arg(long)]
    runs: Option<usize>,
    /// Heartbeats in each measured window (ten messages each).
    #[arg(long)]
    heartbeats: Option<usize>,
    /// Internal: running under callgrind; dumps go to this file prefix.
    #[arg(long, hide = true)]
    inside_callgrind: Option<PathBuf>,
}

/// One point of a curve.
#[derive(Clone, Copy, Debug)]
struct Point {
    peers: usize,
    topics: usize,
    size: usize,
}

const BASE: Point = Point {
    peers: 100,
    topics: 1,
    size: KIB,
};

/// What one point costs.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    cpu_per_msg: f64,
    heartbeat: f64,
    mem_idle: f64,
    mem_loaded: f64,
}

/// How CPU is counted.
enum Meter {
    /// Thread CPU time, nanoseconds.
    Time,
    /// Callgrind dumps with this prefix; `next` is the number of the next dump.
    Callgrind { prefix: PathBuf, next: usize },
}

impl Meter {
    fn unit(&self) -> &'static str {
        match self {
            Meter::Time => "ns",
            Meter::Callgrind { .. } => "instructions",
        }
    }

    /// Runs `f` and returns its cost in this meter's unit.
    fn measure(&mut self, f: impl FnOnce()) -> f64 {
        match self {
            Meter::Time => {
                let start = cpu_time::ThreadTime::now();
                f();
                start.elapsed().as_nanos() as f64
            }
            Meter::Callgrind { prefix, next } => {
                callgrind::zero_stats();
                f();
                callgrind::dump_stats();
                let n = *next;
                *next += 1;
                callgrind_total(prefix, n)
            }
        }
    }
}

/// The instruction count of dump `n` (every file `<prefix>.<n>*`: one per thread).
fn callgrind_total(prefix: &Path, n: usize) -> f64 {
    let dir = prefix.parent().unwrap_or(Path::new("."));
    let stem = format!(
        "{}.{n}",
        prefix.file_name().and_then(|s| s.to_str()).unwrap_or("")
    );
    let mut total = 0u64;
    for entry in std::fs::read_dir(dir)
        .expect("callgrind output directory")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != stem && !name.starts_with(&format!("{stem}-")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("callgrind dump");
        if let Some(v) = text
            .lines()
            .find_map(|l| l.strip_prefix("summary:").or(l.strip_prefix("totals:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += v;
        }
    }
    assert!(total > 0, "no callgrind dump {stem} in {}", dir.display());
    total as f64
}

fn config(signed: bool) -> Config {
    ConfigBuilder::default()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(if signed {
            ValidationMode::Strict
        } else {
            ValidationMode::None
        })
        .max_transmit_size(MAX_TRANSMIT)
        // Lifted so no point is throttled: 1,000 topics per peer, and ten 1 MiB messages a
        // heartbeat from the mesh of one topic.
        .max_topics_per_peer(1000)
        .max_message_bytes_per_peer_per_heartbeat(64 * 1024 * KIB)
        .build()
        .expect("valid config")
}

fn topic(i: usize) -> TopicHash {
    TopicHash::from_raw(format!("curve-topic-{i}"))
}

/// Drains the router's actions, encoding every RPC as the connection handler would.
fn drain(router: &mut Router, codec: &mut Codec, buf: &mut BytesMut) {
    while let Some(action) = router.poll_action() {
        if let Action::Send { rpc, .. } = action {
            buf.clear();
            codec.encode(&rpc, buf).expect("encode");
        }
    }
}

/// Measures one point: `heartbeats` windows of ten messages each. `signed`: messages signed
/// and verified (`ValidationMode::Strict`); else unsigned with `ValidationMode::None` (the
/// router's own cost, without the Ed25519 verification).
fn run_point(point: Point, signed: bool, heartbeats: usize, meter: &mut Meter) -> Cost {
    let topics: Vec<TopicHash> = (0..point.topics).map(topic).collect();
    let messages = heartbeats * MESSAGES_PER_HEARTBEAT;
    // Untimed, outside the memory figure: the frames the peers will send (signed by one author).
    let author = Keypair::generate_ed25519();
    let mut codec = Codec::new(MAX_TRANSMIT);
    let payload = Bytes::from(vec![0x5au8; point.size]);
    let frames: Vec<Bytes> = (0..messages)
        .map(|i| {
            let topic = topics[i % topics.len()].clone();
            let m = if signed {
                signed_message(&author, topic, payload.clone(), i as u64 + 1)
            } else {
                RawMessage {
                    source: Some(author.public().to_peer_id()),
                    data: payload.clone(),
                    data_absent: false,
                    sequence_number: Some(i as u64 + 1),
                    topic,
                    signature: None,
                    key: None,
                }
            };
            let mut buf = BytesMut::new();
            let rpc = Rpc {
                messages: vec![m],
                ..Rpc::default()
            };
            codec.encode(&rpc, &mut buf).expect("encode");
            buf.freeze()
        })
        .collect();
    let peers: Vec<PeerId> = (0..point.peers).map(|_| PeerId::random()).collect();
    let subscribe = Rpc {
        subscriptions: topics
            .iter()
            .map(|t| Subscription {
                options: Default::default(),
                subscribe: true,
                topic: t.clone(),
            })
            .collect(),
        ..Rpc::default()
    };
    let mut out = BytesMut::new();

    let before = live();
    let t0 = Instant::now();
    let config = config(signed);
    let mut decoder = Codec::from_config(&config);
    let authenticity = if signed {
        MessageAuthenticity::Signed(Keypair::generate_ed25519())
    } else {
        MessageAuthenticity::Author(PeerId::random())
    };
    let mut router = Router::new(config, authenticity, 7, 1, t0).expect("router");
    for t in &topics {
        router.subscribe(t0, t.clone()).expect("subscribe");
    }
    for peer in &peers {
        // Outbound, so the D_out quota never grafts beyond D.
        router.add_peer(t0, *peer, true);
        router.set_peer_kind(*peer, PeerKind::Gossipsubv1_2);
        router.handle_rpc(t0, *peer, subscribe.clone());
        drain(&mut router, &mut codec, &mut out);
    }
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_secs(1);
        router.handle_timeout(now);
        drain(&mut router, &mut codec, &mut out);
    }
    // Each topic's messages come from its mesh peers in turn.
    let senders: Vec<Vec<PeerId>> = topics
        .iter()
        .map(|t| {
            let mesh: Vec<PeerId> = router.mesh_peers(t).copied().collect();
            assert!(!mesh.is_empty(), "a mesh in {t}");
            mesh
        })
        .collect();
    let mem_idle = (live() - before) as f64;

    let mut msg_cost = 0.0;
    let mut hb_cost = 0.0;
    for window in frames.chunks(MESSAGES_PER_HEARTBEAT) {
        let first =
            (window.as_ptr() as usize - frames.as_ptr() as usize) / std::mem::size_of::<Bytes>();
        msg_cost += meter.measure(|| {
            for (k, frame) in window.iter().enumerate() {
                let mut src = BytesMut::from(&frame[..]);
                let rpc = decoder.decode(&mut src).expect("decode").expect("a frame");
                let i = first + k;
                let mesh = &senders[i % topics.len()];
                let from = mesh[(i / topics.len()) % mesh.len()];
                router.handle_rpc(now, from, rpc);
                drain(&mut router, &mut codec, &mut out);
            }
        });
        now += Duration::from_secs(1);
        hb_cost += meter.measure(|| {
            router.handle_timeout(now);
            drain(&mut router, &mut codec, &mut out);
        });
    }
    let mem_loaded = (live() - before) as f64;
    let (mcache, seen) = router.cache_sizes();
    assert!(mcache > 0, "messages were cached");
    assert_eq!(seen, messages, "every message was received as new");
    drop(router);
    Cost {
        cpu_per_msg: msg_cost / messages as f64,
        heartbeat: hb_cost / heartbeats as f64,
        mem_idle,
        mem_loaded,
    }
}

/// The three curves: (dimension, its points).
fn curves() -> Vec<(&'static str, Vec<(f64, Point)>)> {
    vec![
        (
            "peers",
            [10, 100, 1000]
                .into_iter()
                .map(|p| (p as f64, Point { peers: p, ..BASE }))
                .collect(),
        ),
        (
            "topics",
            [1, 10, 100, 1000]
                .into_iter()
                .map(|t| (t as f64, Point { topics: t, ..BASE }))
                .collect(),
        ),
        (
            "size",
            [100, KIB, 64 * KIB, 1024 * KIB]
                .into_iter()
                .map(|s| (s as f64, Point { size: s, ..BASE }))
                .collect(),
        ),
    ]
}

type PlotResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// One SVG per dimension: three panels (CPU per message, heartbeat, memory), log-log.
fn plot(path: &Path, dimension: &str, unit: &str, points: &[(f64, Cost, Cost)]) -> PlotResult {
    let root = SVGBackend::new(path, (1500, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 3));
    let x_desc = match dimension {
        "peers" => "connected peers (all in every topic)".to_owned(),
        "topics" => "topics (subscribed, 100 peers in each)".to_owned(),
        _ => "message size (bytes)".to_owned(),
    };
    let x_lo = points.first().map_or(1.0, |p| p.0);
    let x_hi = points.last().map_or(10.0, |p| p.0);
    // (label, value of a point from its signed and unsigned costs)
    type Series = (&'static str, fn(&Cost, &Cost) -> f64);
    let specs: [(String, Vec<Series>); 3] = [
        (
            format!("{unit} per received message"),
            vec![
                ("ours, signed (Ed25519 verify)", |s, _| s.cpu_per_msg),
                ("ours, unsigned (no verify)", |_, u| u.cpu_per_msg),
            ],
        ),
        (
            format!("{unit} per heartbeat"),
            vec![
                ("ours, signed", |s, _| s.heartbeat),
                ("ours, unsigned", |_, u| u.heartbeat),
            ],
        ),
        (
            "live heap bytes (signed)".to_owned(),
            vec![
                ("ours, idle (peers + meshes)", |s, _| s.mem_idle),
                ("ours, loaded (+ caches)", |s, _| s.mem_loaded),
            ],
        ),
    ];
    for (panel, (title, series)) in panels.iter().zip(specs.iter()) {
        let values: Vec<f64> = series
            .iter()
            .flat_map(|(_, f)| points.iter().map(move |(_, s, u)| f(s, u)))
            .collect();
        // Whole decades, so every panel has at least two labelled ticks.
        let min = values.iter().copied().fold(f64::MAX, f64::min).max(1.0);
        let max = values.iter().copied().fold(1.0, f64::max);
        let y_lo = 10f64.powf(min.log10().floor());
        let y_hi = 10f64.powf(max.log10().ceil()).max(y_lo * 10.0);
        let mut chart = ChartBuilder::on(panel)
            .caption(title.as_str(), ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (x_lo * 0.8..x_hi * 1.25).log_scale(),
                (y_lo..y_hi).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc(x_desc.as_str())
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .draw()?;
        for (i, (label, f)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let line: Vec<(f64, f64)> = points.iter().map(|(x, s, u)| (*x, f(s, u))).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// 1500 → "1.5k", 2e6 → "2M".
fn short(v: f64) -> String {
    let (d, s) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if (x - x.round()).abs() < 0.05 {
        format!("{x:.0}{s}")
    } else {
        format!("{x:.1}{s}")
    }
}

/// Re-runs this example under callgrind with `--inside-callgrind`.
fn rerun_under_callgrind(args: &Args) -> anyhow::Result<()> {
    let dumps = args.out.join("callgrind");
    std::fs::create_dir_all(&dumps)?;
    for entry in std::fs::read_dir(&dumps)?.flatten() {
        std::fs::remove_file(entry.path())?;
    }
    let prefix = dumps.join("cg.out");
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", prefix.display()))
        .arg(exe)
        .arg("--out")
        .arg(&args.out)
        .arg("--inside-callgrind")
        .arg(&prefix);
    if args.quick {
        cmd.arg("--quick");
    }
    if let Some(h) = args.heartbeats {
        cmd.arg("--heartbeats").arg(h.to_string());
    }
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "valgrind run failed: {status}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.instructions && args.inside_callgrind.is_none() {
        return rerun_under_callgrind(&args);
    }
    let mut meter = match &args.inside_callgrind {
        Some(prefix) => {
            callgrind::ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
            Meter::Callgrind {
                prefix: prefix.clone(),
                next: 1,
            }
        }
        None => Meter::Time,
    };
    let runs = match meter {
        Meter::Callgrind { .. } => 1,
        Meter::Time => args.runs.unwrap_or(if args.quick { 2 } else { 5 }),
    };
    let unit = meter.unit();
    std::fs::create_dir_all(&args.out)?;
    let mut csv = String::from(
        "dimension,peers,topics,size_bytes,signed,cpu_unit,cpu_per_msg,heartbeat,mem_idle_bytes,mem_loaded_bytes,runs,heartbeats\n",
    );
    let started = Instant::now();
    for (dimension, points) in curves() {
        let mut costs = Vec::new();
        for (x, point) in points {
            // Fewer windows for the big messages: every frame is held in memory up front.
            let heartbeats = args.heartbeats.unwrap_or(match (args.quick, point.size) {
                (true, s) if s >= 64 * KIB => 2,
                (true, _) => 5,
                (false, s) if s >= 1024 * KIB => 5,
                (false, _) => 20,
            });
            let mut pair = [Cost::default(); 2];
            for (slot, signed) in pair.iter_mut().zip([true, false]) {
                let mut best: Option<Cost> = None;
                for _ in 0..runs {
                    let c = run_point(point, signed, heartbeats, &mut meter);
                    best = Some(match best {
                        None => c,
                        Some(b) => Cost {
                            cpu_per_msg: b.cpu_per_msg.min(c.cpu_per_msg),
                            heartbeat: b.heartbeat.min(c.heartbeat),
                            mem_idle: b.mem_idle.min(c.mem_idle),
                            mem_loaded: b.mem_loaded.min(c.mem_loaded),
                        },
                    });
                }
                let c = best.expect("at least one run");
                *slot = c;
                println!(
                    "{dimension:>6} peers={:<5} topics={:<5} size={:<8} signed={:<5} {:>12.0} {unit}/msg {:>12.0} {unit}/heartbeat  mem idle {:>11.0} B  loaded {:>11.0} B",
                    point.peers,
                    point.topics,
                    point.size,
                    signed,
                    c.cpu_per_msg,
                    c.heartbeat,
                    c.mem_idle,
                    c.mem_loaded
                );
                writeln!(
                    csv,
                    "{dimension},{},{},{},{signed},{unit},{:.0},{:.0},{:.0},{:.0},{runs},{heartbeats}",
                    point.peers,
                    point.topics,
                    point.size,
                    c.cpu_per_msg,
                    c.heartbeat,
                    c.mem_idle,
                    c.mem_loaded
                )?;
            }
            costs.push((x, pair[0], pair[1]));
        }
        plot(
            &args.out.join(format!("{dimension}.svg")),
            dimension,
            unit,
            &costs,
        )
        .map_err(|e| anyhow::anyhow!("plot {dimension}: {e}"))?;
    }
    std::fs::write(args.out.join("cost_curves.csv"), csv)?;
    println!(
        "wrote {}/cost_curves.csv and peers.svg, topics.svg, size.svg in {:.0?}",
        args.out.display(),
        started.elapsed()
    );
    Ok(())
}
