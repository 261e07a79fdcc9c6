// A signature whose R carries an order-2 component: single verification (ed25519-dalek 3
// `verify`, what libp2p-identity calls) rejects it; batch verification accepts it whenever
// the transcript-derived coefficient z is even. The signer grinds the message until it is.
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha512};

fn main() {
    let a = Scalar::from_bytes_mod_order([7u8; 32]);
    let big_a = EdwardsPoint::mul_base(&a);
    let key = VerifyingKey::from_bytes(&big_a.compress().to_bytes()).unwrap();
    // (0, -1): the point of order 2.
    let mut t = [0xffu8; 32];
    t[0] = 0xec;
    t[31] = 0x7f;
    let torsion = CompressedEdwardsY(t).decompress().unwrap();
    assert!(!torsion.is_identity() && (torsion + torsion).is_identity());
    let honest = SigningKey::from_bytes(&[9u8; 32]);
    for attempt in 0u32.. {
        let msg = format!("forged-{attempt}").into_bytes();
        let r = Scalar::from_bytes_mod_order([attempt as u8 ^ 0x55; 32])
            + Scalar::from(attempt as u64 + 1);
        let big_r = EdwardsPoint::mul_base(&r) + torsion;
        let rb = big_r.compress().to_bytes();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(rb)
                .chain_update(key.as_bytes())
                .chain_update(&msg),
        );
        let s = r + k * a;
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&rb);
        bytes[32..].copy_from_slice(s.as_bytes());
        let sig = Signature::from_bytes(&bytes);
        let single = key.verify(&msg, &sig).is_ok();
        let batch1 = ed25519_dalek::verify_batch(&[&msg], &[sig], &[key]).is_ok();
        if batch1 {
            // With 15 valid signatures of another key in the same batch.
            let others: Vec<Vec<u8>> = (0..15).map(|i| format!("valid-{i}").into_bytes()).collect();
            let mut m: Vec<&[u8]> = others.iter().map(|v| v.as_slice()).collect();
            let mut sigs: Vec<Signature> = others.iter().map(|v| honest.sign(v)).collect();
            let mut keys = vec![honest.verifying_key(); 15];
            m.push(&msg);
            sigs.push(sig);
            keys.push(key);
            let batch16 = ed25519_dalek::verify_batch(&m, &sigs, &keys).is_ok();
            println!(
                "attempt {attempt}: single verify ok={single}, batch of 1 ok={batch1}, batch of 16 (15 valid + it) ok={batch16}"
            );
            break;
        }
        println!("attempt {attempt}: single ok={single}, batch of 1 ok={batch1}");
    }
}
