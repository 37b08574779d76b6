//! Hand-written register (Jepsen) and kv (EDN) histories with known verdicts.

use detcd_checker::{Budget, Format, Verdict, check_text};

fn verdict(text: &str, format: Format) -> Verdict {
    check_text(text, format, Budget::default()).unwrap().verdict
}

// A read that returns an overwritten value after the overwrite completed is a stale read.
#[test]
fn stale_register_read_is_a_violation() {
    let log = "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:write\t2
INFO  jepsen.util - 1\t:ok\t:write\t2
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:ok\t:read\t1
";
    let report = check_text(log, Format::Jepsen, Budget::default()).unwrap();
    assert_eq!(report.verdict, Verdict::NotLinearizable);
    assert_eq!(report.exit_code(), 1);
    let counterexample = report
        .counterexample
        .expect("a violation comes with a counterexample");
    assert_eq!(counterexample.unplaceable.unwrap().description, "read -> 1");
    assert_eq!(counterexample.state, "register = 2");
    let printed = format!(
        "{}",
        check_text(log, Format::Jepsen, Budget::default()).unwrap()
    );
    assert!(
        printed.contains("NOT linearizable") && printed.contains("could not be placed"),
        "{printed}"
    );
}

// A write whose client timed out may take effect later, even after the client gave up: reads
// may see it, and once one has, later reads must too.
#[test]
fn write_after_its_client_timed_out() {
    let seen_late = "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:info\t:write\t:timed-out
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\t1
";
    assert_eq!(verdict(seen_late, Format::Jepsen), Verdict::Linearizable);
    let then_lost = format!(
        "{seen_late}INFO  jepsen.util - 2\t:invoke\t:read\tnil\nINFO  jepsen.util - 2\t:ok\t:read\tnil\n"
    );
    assert_eq!(
        verdict(&then_lost, Format::Jepsen),
        Verdict::NotLinearizable
    );
}

// A failed read constrains nothing, and a failed cas did not happen.
#[test]
fn failed_operations_constrain_nothing() {
    let log = "\
INFO  jepsen.util - 0\t:invoke\t:write\t3
INFO  jepsen.util - 0\t:ok\t:write\t3
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:read\t7
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 4]
INFO  jepsen.util - 2\t:fail\t:cas\t[3 4]
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\t3
";
    assert_eq!(verdict(log, Format::Jepsen), Verdict::Linearizable);
}

// Concurrent compare-and-sets may take effect in either order, but each must find its value.
#[test]
fn concurrent_cas_chain() {
    let log = "\
INFO  jepsen.util - 0\t:invoke\t:write\t0
INFO  jepsen.util - 0\t:ok\t:write\t0
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 2\t:invoke\t:cas\t[0 1]
INFO  jepsen.util - 1\t:ok\t:cas\t[1 2]
INFO  jepsen.util - 2\t:ok\t:cas\t[0 1]
";
    assert_eq!(verdict(log, Format::Jepsen), Verdict::Linearizable);
    let impossible = log.replace("[0 1]", "[0 3]");
    assert_eq!(
        verdict(&impossible, Format::Jepsen),
        Verdict::NotLinearizable
    );
}

// A missing key reads as "", appends concatenate in order, and a get that misses a completed
// append is stale; each key is checked on its own.
#[test]
fn kv_appends_and_stale_get() {
    let log = r#"{:process 0, :type :invoke, :f :get, :key "1", :value nil}
{:process 0, :type :ok, :f :get, :key "1", :value ""}
{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :put, :key "2", :value "z"}
{:process 0, :type :ok, :f :append, :key "1", :value "x 0 0 y"}
{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 1 y"}
{:process 0, :type :ok, :f :append, :key "1", :value "x 0 1 y"}
{:process 1, :type :info, :f :put, :key "2", :value "z"}
{:process 2, :type :invoke, :f :get, :key "1", :value nil}
{:process 2, :type :ok, :f :get, :key "1", :value "x 0 0 yx 0 1 y"}
{:process 3, :type :invoke, :f :get, :key "2", :value nil}
{:process 3, :type :ok, :f :get, :key "2", :value "z"}
"#;
    let report = check_text(log, Format::EdnKv, Budget::default()).unwrap();
    assert_eq!(
        (report.verdict, report.partitions, report.partitions_decided),
        (Verdict::Linearizable, 2, 2)
    );
    let stale = log.replace(
        r#":ok, :f :get, :key "1", :value "x 0 0 yx 0 1 y""#,
        r#":ok, :f :get, :key "1", :value "x 0 0 y""#,
    );
    assert_eq!(verdict(&stale, Format::EdnKv), Verdict::NotLinearizable);
}

// The counterexample is the shortest failing prefix: operations after the violation are not in
// its window, and the same input gives the same counterexample every time.
#[test]
fn counterexample_is_minimal_and_deterministic() {
    let mut log = String::from(
        "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:read\t2
",
    );
    for _ in 0..20 {
        log.push_str(
            "INFO  jepsen.util - 2\t:invoke\t:write\t4\nINFO  jepsen.util - 2\t:ok\t:write\t4\n",
        );
    }
    let first = check_text(&log, Format::Jepsen, Budget::default())
        .unwrap()
        .counterexample
        .unwrap();
    let second = check_text(&log, Format::Jepsen, Budget::default())
        .unwrap()
        .counterexample
        .unwrap();
    assert_eq!(first, second);
    let labels: Vec<u64> = first
        .window
        .iter()
        .map(|operation| operation.label)
        .collect();
    assert_eq!(
        labels,
        vec![1, 3],
        "the write and the impossible read, nothing later"
    );
}

// When the memory budget is spent before an answer, the verdict is unknown, with exit code 3.
#[test]
fn exhausted_budget_is_unknown() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n";
    let budget = Budget {
        memo_entries_max: 0,
        ..Budget::default()
    };
    let report = check_text(log, Format::Jepsen, budget).unwrap();
    assert_eq!((report.verdict, report.exit_code()), (Verdict::Unknown, 3));
}

// Format names parse as the command line spells them; a bad line is reported by number.
#[test]
fn formats_and_parse_errors() {
    assert_eq!("edn-kv".parse::<Format>(), Ok(Format::EdnKv));
    assert!("xml".parse::<Format>().is_err());
    let error = check_text(
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:frob\t1\n",
        Format::Jepsen,
        Budget::default(),
    );
    assert_eq!(error.unwrap_err().line, 2);
}
