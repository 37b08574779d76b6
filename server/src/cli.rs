//! The command line: serve (etcd's flags), `--version`, `--help`, `snapshot`, and `gateway`.

use crate::config::{self, Command};

/// Run the command line; returns the process's exit code.
pub fn main(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("snapshot") => return crate::snapshot_cmd::main(&args[1..]),
        #[cfg(not(madsim))]
        Some("gateway") => return crate::tcp_proxy::main(&args[1..]),
        _ => {}
    }
    let command = match config::from_args(&args, std::env::vars()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}");
            eprintln!("Run 'detcd --help' for the flags.");
            return 2;
        }
    };
    match command {
        Command::Help => {
            print!("{}", config::flags::usage());
            0
        }
        Command::Version => {
            println!("detcd Version: {}", env!("CARGO_PKG_VERSION"));
            println!("etcd API Version: {}", crate::api::ETCD_VERSION);
            0
        }
        Command::Serve(config) => serve(*config),
    }
}

#[cfg(not(madsim))]
fn serve(config: config::Config) -> i32 {
    crate::log::init(config.log_level, config.logger_json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    match runtime.block_on(crate::run::run(config)) {
        Ok(()) => 0,
        Err(message) => {
            tracing::error!(target: "etcdmain", "{message}");
            1
        }
    }
}

/// A simulated build runs members inside simulation tests, never from the command line.
#[cfg(madsim)]
fn serve(_: config::Config) -> i32 {
    eprintln!("detcd built with --cfg madsim runs only inside simulation tests");
    1
}
