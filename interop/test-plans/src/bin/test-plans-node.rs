//! The test-plans gossipsub-interop node running this repository's `gossipsub`.

fn main() -> std::process::ExitCode {
    gossipsub_test_plans::node::main::<gossipsub::Behaviour>()
}
