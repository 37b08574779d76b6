//! The scenario language: bad files are refused with the line at fault, and what parses means
//! what it says.

use detcd_core::Duration;
use detcd_scenarios::script::{Action, Command, Expectation, Setup, parse};

fn error_of(text: &str) -> (usize, String) {
    let error = parse(text).expect_err("the file is bad");
    (error.line, error.message)
}

// Rule: every mistake is reported with its line number and says what was expected.
#[test]
fn bad_files_name_the_line_at_fault() {
    let cases = [
        (
            "# x\ncluster 5\nexplode 3\ncheck\n",
            3,
            "unknown command `explode`",
        ),
        ("# x\ncluster 5\nrun soon\ncheck\n", 3, "not a duration"),
        ("# x\npartition 1,2\ncheck\n", 2, "two groups"),
        ("# x\npartition 1,2 | 2,3\ncheck\n", 2, "in two groups"),
        (
            "# x\nrun 1s\ncluster 3\ncheck\n",
            3,
            "before the first action",
        ),
        ("# x\ncluster 3\nswarm\ncheck\n", 3, "first command"),
        ("# x\ncluster 3\nrun 1s\n", 3, "ends with `check`"),
        ("# x\ncheck\nrun 1s\n", 3, "nothing may follow"),
        (
            "# x\nclients 4 mix=put:1,fly:2\ncheck\n",
            2,
            "unknown operation `fly`",
        ),
        ("# x\nnetwork loss=200%\ncheck\n", 2, "percentage"),
        ("# x\nclock-drift 1 50ms/s\ncheck\n", 2, "needs a sign"),
        (
            "# x\nexpect write via 1 fails within 2s\ncheck\n",
            2,
            "takes no `within`",
        ),
        ("# x\n----\ncheck\n", 2, "no command before it"),
    ];
    for (text, line, message) in cases {
        let (found_line, found) = error_of(text);
        assert_eq!(found_line, line, "{text:?}: {found}");
        assert!(found.contains(message), "{text:?}: {found}");
    }
}

// Rule: setup commands become the option overrides `--set` takes; a mix names every weight
// that is not 0.
#[test]
fn setup_commands_are_option_overrides() {
    let script =
        parse("# x\ncluster 3 spares=1\nclients 4 mix=put:3,watch:1 timeout=1.5s\ncheck\n")
            .expect("parses");
    let overrides: Vec<(String, String)> = script
        .commands()
        .filter_map(|line| match &line.command {
            Command::Setup(Setup::Set(pairs)) => Some(pairs.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let has = |key: &str, value: &str| overrides.contains(&(key.into(), value.into()));
    assert!(has("node_count", "3") && has("spares", "1") && has("clients", "4"));
    assert!(has("mix.put", "3") && has("mix.watch", "1") && has("mix.get", "0"));
    assert!(has("request_timeout_ms", "1500"));
}

// Rule: actions parse to what they say: groups, one-way cuts, rates, bounds.
#[test]
fn actions_mean_what_they_say() {
    let script = parse(
        "# x\npartition 1,2 | 3,4,5\ncut 2,3 -> 1\nclock-drift 4 -20ms/s\n\
         expect leader in 3,4,5 within 2s\ncheck recover=5s\n",
    )
    .expect("parses");
    let actions: Vec<Action> = script
        .commands()
        .map(|line| match &line.command {
            Command::Action(action) => action.clone(),
            Command::Setup(_) => panic!("no setup here"),
        })
        .collect();
    assert_eq!(
        actions,
        [
            Action::Partition(vec![vec![1, 2], vec![3, 4, 5]]),
            Action::Cut {
                from: vec![2, 3],
                to: vec![1]
            },
            Action::ClockDrift {
                node: 4,
                ppm: -20_000
            },
            Action::Expect {
                expectation: Expectation::LeaderIn(vec![3, 4, 5]),
                within: Some(Duration::from_secs(2)),
            },
            Action::Check {
                recover: Duration::from_secs(5)
            },
        ]
    );
}

// Rule: rewriting a file with the outputs it already keeps gives the file back, so the golden
// test compares like with like.
#[test]
fn rewriting_with_the_same_outputs_is_the_identity() {
    let text = "# Purpose.\n\ncluster 3\n----\n   0.000s  3 members start\n\n# Step.\nrun 1s\n----\n   1.000s  done\n\ncheck\n----\n";
    let script = parse(text).expect("parses");
    let outputs: Vec<String> = script
        .blocks
        .iter()
        .map(|block| block.expected.clone().unwrap_or_default())
        .collect();
    assert_eq!(script.rewrite(&outputs), text);
    assert_eq!(script.purpose, "Purpose.");
}
