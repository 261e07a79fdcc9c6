//! The test-plans gossipsub-interop node running libp2p-gossipsub 0.50.1 (the reference).

fn main() -> std::process::ExitCode {
    gossipsub_test_plans::node::main::<libp2p_gossipsub::Behaviour>()
}
