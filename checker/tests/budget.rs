//! Budgets are deterministic: they count search steps, never time.

use detcd_checker::etcd::EtcdHistory;
use detcd_checker::generate::{self, Shape};
use detcd_checker::model::register::RegisterModel;
use detcd_checker::{Budget, CheckReport, Verdict, check_etcd, check_operations};

// The budget counts search steps, not time: a check takes the same steps on every run, is
// decided with exactly that many, and answers "unknown" with one fewer. So a history's verdict
// does not depend on the machine that checks it.
#[test]
fn budget_is_a_count_of_steps() {
    let shape = Shape {
        clients: 5,
        operations: 60,
        unknown_percent: 20,
    };
    let registers = generate::register_history(3, shape);
    let etcd = EtcdHistory {
        operations: generate::etcd_history(3, shape),
        watches: Vec::new(),
    };
    let register_check = |budget| check_operations(&RegisterModel, &registers, budget);
    let etcd_check = |budget| check_etcd(&etcd, budget);
    let checks: [&dyn Fn(Budget) -> CheckReport; 2] = [&register_check, &etcd_check];
    for check in checks {
        let full = check(Budget::default());
        assert_eq!(full.verdict, Verdict::Linearizable);
        assert!(full.steps > 1, "{full}");
        let exact = check(Budget::with_steps_max(full.steps));
        assert_eq!(
            (exact.verdict, exact.steps),
            (Verdict::Linearizable, full.steps)
        );
        let short = check(Budget::with_steps_max(full.steps - 1));
        assert_eq!((short.verdict, short.exit_code()), (Verdict::Unknown, 3));
    }
}
