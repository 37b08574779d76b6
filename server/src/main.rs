//! `detcd`: a member that speaks etcd's v3 API, started with etcd's flags; `detcd snapshot
//! restore|status` for the files `etcdctl snapshot save` writes; `detcd gateway start`, etcd's
//! L4 gateway.

// Every request allocates a few small buffers on one worker thread and frees them on another;
// mimalloc's thread-local free lists cost less CPU per request than the system allocator's
// arenas (measured with `detcd-bench compare`, see the README's "Load" section).
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(detcd::cli::main(std::env::args().skip(1).collect()));
}
