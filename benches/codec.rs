//! Encoding and decoding an RPC carrying one signed message of 1 KiB and of 512 KiB.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gossipsub::__bench::{Codec, signed_message};
use gossipsub::{Rpc, TopicHash};
use libp2p::identity::Keypair;

fn codec(c: &mut Criterion) {
    let key = Keypair::generate_ed25519();
    let mut group = c.benchmark_group("codec");
    for (name, size) in [("1KiB", 1024usize), ("512KiB", 512 * 1024)] {
        let message = signed_message(
            &key,
            TopicHash::from_raw("bench-topic"),
            Bytes::from(vec![0xa5u8; size]),
            42,
        );
        let rpc = Rpc {
            subscriptions: Vec::new(),
            messages: vec![message],
            control: Vec::new(),
            ..Rpc::default()
        };
        let mut codec = Codec::new(1024 * 1024);
        let mut frame = BytesMut::new();
        codec.encode(&rpc, &mut frame).expect("encodes");
        let frame = frame.freeze();
        group.throughput(Throughput::Bytes(frame.len() as u64));
        let mut dst = BytesMut::with_capacity(frame.len() + 16);
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                dst.clear();
                codec.encode(black_box(&rpc), &mut dst).expect("encodes");
                black_box(dst.len())
            })
        });
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                // As the handler sees it: a buffer holding the frame.
                let mut src = BytesMut::from(&frame[..]);
                let rpc = codec.decode(&mut src).expect("decodes").expect("complete");
                black_box(rpc)
            })
        });
        group.bench_function(format!("copy_only_{name}"), |b| {
            // Baseline for decode: the copy of the frame into a fresh buffer alone.
            b.iter(|| black_box(BytesMut::from(&frame[..])))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
