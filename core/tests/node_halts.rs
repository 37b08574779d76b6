//! Data read from a disk or from a peer is input, not an invariant: a committed entry or a
//! snapshot that does not decode stops the node with a reason that names it (fail-stop), and
//! never panics.

use detcd_core::io::{self, Driver, Halt};
use detcd_core::raft::{Entry, EntryKind, Message, PersistBatch, PersistedState};
use detcd_core::testing::{Journal, JournalResponse};
use detcd_core::{Boot, ClientId, Instant, Node, NodeConfig, NodeId, RequestId};

/// A driver that only counts what it is asked to do.
#[derive(Default)]
struct Count(usize);

impl Driver<Node<Journal>> for Count {
    fn persist(&mut self, _: PersistBatch) {
        self.0 += 1;
    }
    fn send(&mut self, _: NodeId, _: Message) {
        self.0 += 1;
    }
    fn respond(&mut self, _: ClientId, _: RequestId, _: JournalResponse) {
        self.0 += 1;
    }
}

fn boot(persisted: PersistedState) -> Result<Node<Journal>, Halt> {
    let boot = Boot {
        config: NodeConfig::new(1, 7),
        persisted,
        incarnation: 1,
        now: Instant::ZERO,
    };
    Node::boot(boot, Journal::default())
}

#[test]
fn a_committed_entry_that_does_not_decode_halts_the_node() {
    let mut persisted = PersistedState::bootstrap([1]);
    persisted.entries.push(Entry {
        term: 1,
        index: 2,
        kind: EntryKind::Normal,
        data: vec![0xff, 0xff, 0xff],
    });
    persisted.hard_state.commit = 2;
    let mut node = boot(persisted).expect("the snapshot decodes");
    let halt = io::drain(&mut node, &mut Count::default()).expect_err("the node halts");
    assert!(
        halt.reason.contains("the entry at index 2 does not decode"),
        "{halt}"
    );
    // A halted node stays halted and does nothing more.
    let mut count = Count::default();
    let again = io::step(
        &mut node,
        detcd_core::Input::Campaign { now: Instant::ZERO },
        &mut count,
    );
    assert_eq!(again, Err(halt));
    assert_eq!(count.0, 0);
}

#[test]
fn a_snapshot_that_does_not_decode_refuses_to_start() {
    let mut persisted = PersistedState::bootstrap([1]);
    persisted.snapshot.as_mut().expect("bootstrap has one").data = vec![0x80; 4];
    let halt = boot(persisted).expect_err("the node refuses to start");
    assert!(halt.reason.contains("a snapshot does not decode"), "{halt}");
}
