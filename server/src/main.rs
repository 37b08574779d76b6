//! `detcd`: a member that speaks etcd's v3 API, started with etcd's flags; `detcd snapshot
//! restore|status` for the files `etcdctl snapshot save` writes; `detcd gateway start`, etcd's
//! L4 gateway.

fn main() {
    std::process::exit(detcd::cli::main(std::env::args().skip(1).collect()));
}
