//! Instructions of Ed25519 single against batch verification (ed25519-dalek 3.0, the version
//! libp2p-identity 0.3.1 uses), 1,100-byte messages by 30 authors. `cost single N` or
//! `cost batch N B`; `run.sh` runs it under callgrind, counting only the function `measured`.
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

#[inline(never)]
fn measured(
    mode: &str,
    batch: usize,
    msgs: &[Vec<u8>],
    sigs: &[Signature],
    keys: &[VerifyingKey],
) -> usize {
    let mut ok = 0;
    match mode {
        "single" => {
            for i in 0..msgs.len() {
                ok += keys[i].verify(&msgs[i], &sigs[i]).is_ok() as usize;
            }
        }
        "batch" => {
            let mut i = 0;
            while i < msgs.len() {
                let j = (i + batch).min(msgs.len());
                let m: Vec<&[u8]> = msgs[i..j].iter().map(|m| m.as_slice()).collect();
                if ed25519_dalek::verify_batch(&m, &sigs[i..j], &keys[i..j]).is_ok() {
                    ok += j - i;
                }
                i = j;
            }
        }
        _ => {}
    }
    ok
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mode = a[1].as_str();
    let n: usize = a[2].parse().unwrap();
    let batch: usize = a.get(3).map(|b| b.parse().unwrap()).unwrap_or(1);
    let authors = 30;
    let signers: Vec<SigningKey> = (0..authors)
        .map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let mut msgs = Vec::new();
    let mut sigs = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        // About what is signed for a 1 KiB gossipsub message.
        let m: Vec<u8> = (0..1100).map(|j| (i * 31 + j * 7) as u8).collect();
        let s = &signers[i % authors];
        sigs.push(s.sign(&m));
        keys.push(s.verifying_key());
        msgs.push(m);
    }
    let ok = measured(mode, batch, &msgs, &sigs, &keys);
    println!("{mode} n={n} batch={batch} ok={ok}");
}
