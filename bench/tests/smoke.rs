//! Runs every scenario of the harness at `--quick` sizes against the test database and checks
//! that the table has every row and that the counts add up, so the harness keeps compiling and
//! working.

use chronicle_bench::{run, Config, Report, Section, SCENARIOS};

fn database_url() -> String {
    std::env::var("CHRONICLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/chronicle_test".to_owned())
}

fn extra(report: &Report, key: &str, name: &str) -> f64 {
    report
        .row(key)
        .unwrap_or_else(|| panic!("row {key} is missing"))
        .extra(name)
        .unwrap_or_else(|| panic!("row {key} has no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_run_has_every_row_and_right_counts() {
    let mut config = Config::quick(database_url());
    // The scale-out scenarios start worker processes of the harness binary.
    config.worker_exe = Some(env!("CARGO_BIN_EXE_harness").into());
    assert!(SCENARIOS.iter().all(|s| config.wants(s)));
    let report = run(&config).await.expect("the quick harness run");

    let mut keys = vec![
        "raw.single".to_owned(),
        "raw.conc".to_owned(),
        "raw.conc.notify".to_owned(),
        "raw.conc.wide".to_owned(),
        "raw.batch".to_owned(),
        "raw.read".to_owned(),
        "raw.stream".to_owned(),
        "raw.stream.light".to_owned(),
        "hot".to_owned(),
        "load.plain".to_owned(),
        "load.snapshot".to_owned(),
        "load.snapshot.head".to_owned(),
        "ryw.consistent".to_owned(),
        "ryw.handle".to_owned(),
        "ryw.remote".to_owned(),
        "raw.rabbitmq".to_owned(),
        "relay.rabbitmq".to_owned(),
        "raw.nats".to_owned(),
        "relay.nats".to_owned(),
        "e2e.raw.rabbitmq".to_owned(),
        "e2e.rabbitmq".to_owned(),
        "e2e.raw.nats".to_owned(),
        "e2e.nats".to_owned(),
    ];
    let mut deposit_rows = Vec::new();
    for clients in &config.clients {
        keys.push(format!("cmd.{clients}.open"));
        deposit_rows.push(format!("cmd.{clients}.deposit"));
        if *clients > 1 {
            keys.push(format!("cmd.{clients}.open.group"));
            deposit_rows.push(format!("cmd.{clients}.deposit.group"));
        }
    }
    keys.extend(deposit_rows.iter().cloned());
    for events in &config.catchup_events {
        keys.push(format!("catchup.{events}"));
    }
    let overhead_rows: Vec<String> = ["bare", "observed"]
        .iter()
        .flat_map(|flavour| {
            [
                format!("overhead.{flavour}.commands"),
                format!("overhead.{flavour}.catchup"),
            ]
        })
        .collect();
    keys.extend(overhead_rows.iter().cloned());
    let mut read_store_rows = Vec::new();
    for events in &config.catchup_events {
        read_store_rows.push(format!("portability.direct.{events}"));
        read_store_rows.push(format!("portability.sql.{events}"));
    }
    for events in &config.redis_events {
        read_store_rows.push(format!("redis.raw.{events}"));
        read_store_rows.push(format!("redis.raw_ahead.{events}"));
        read_store_rows.push(format!("redis.{events}"));
    }
    for events in &config.mariadb_events {
        read_store_rows.push(format!("mariadb.raw.{events}"));
        read_store_rows.push(format!("mariadb.raw_ahead.{events}"));
        read_store_rows.push(format!("mariadb.{events}"));
    }
    keys.extend(read_store_rows.iter().cloned());
    let events = config.scale_events;
    let mut scale_rows = vec![
        format!("scale.raw.1.{events}"),
        format!("scale.raw.{}.{events}", config.scale_partitions),
    ];
    for view in ["per_event", "batch"] {
        scale_rows.push(format!("scale.{view}.1x1.{events}"));
        for workers in &config.scale_workers {
            scale_rows.push(format!(
                "scale.{view}.{}x{workers}.{events}",
                config.scale_partitions
            ));
        }
    }
    keys.extend(scale_rows.iter().cloned());
    for key in &keys {
        let row = report.row(key).unwrap_or_else(|| panic!("row {key} is missing"));
        if row.not_available.is_none() {
            assert_eq!(row.samples.len(), config.runs, "{key}");
            assert!(row.rate().is_some_and(|r| r > 0.0), "{key} has no rate");
        }
    }
    // Failover rows have latencies, not rates.
    for key in ["failover.kill", "failover.pause"] {
        let row = report.row(key).unwrap_or_else(|| panic!("row {key} is missing"));
        assert!(row.p50_ms().is_some_and(|p50| p50 > 0.0), "{key} has no latency");
        let times = if key == "failover.kill" {
            config.failover_kills
        } else {
            config.failover_pauses
        };
        assert_eq!(
            extra(&report, key, "times"),
            times as f64,
            "{key}: every takeover within the timeout"
        );
        assert!(extra(&report, key, "_events") > 0.0);
    }
    assert_eq!(report.rows.len(), keys.len() + 2, "unexpected rows");
    assert_eq!(report.row("raw.single").unwrap().section, Section::Raw);

    for key in &deposit_rows {
        assert_eq!(extra(&report, key, "_commands"), config.deposits as f64);
        assert_eq!(
            extra(&report, key, "_events"),
            config.deposits as f64,
            "events appended = commands"
        );
        assert_eq!(extra(&report, key, "_appends"), config.deposits as f64);
        assert_eq!(
            extra(&report, key, "_conflicts"),
            0.0,
            "no retries without contention"
        );
    }
    let hot = config.hot_deposits as f64;
    assert_eq!(
        extra(&report, "hot", "_events") + extra(&report, "hot", "gave up"),
        hot,
        "every contended deposit appended once or gave up"
    );
    assert!(
        extra(&report, "hot", "find_command calls") >= extra(&report, "hot", "retries (conflicts on append)")
    );
    for events in &config.catchup_events {
        let key = format!("catchup.{events}");
        assert_eq!(extra(&report, &key, "_events"), *events as f64);
        assert_eq!(
            extra(&report, &key, "_applied"),
            *events as f64,
            "caught up within the budget"
        );
        assert_eq!(
            extra(&report, &key, "_view_rows"),
            extra(&report, &key, "_accounts"),
            "view caught up"
        );
        assert!(extra(&report, &key, "peak RSS (MiB)") > 0.0);
    }
    let deposits = config.overhead_deposits / config.raw_connections * config.raw_connections;
    for flavour in ["bare", "observed"] {
        let commands = format!("overhead.{flavour}.commands");
        let catch_up = format!("overhead.{flavour}.catchup");
        assert_eq!(extra(&report, &commands, "_commands"), deposits as f64);
        assert_eq!(
            extra(&report, &catch_up, "_events"),
            (config.accounts + deposits) as f64
        );
        assert_eq!(
            extra(&report, &catch_up, "_view_rows"),
            config.accounts as f64,
            "{catch_up}: the view caught up"
        );
    }
    // Only the observed flavour's subscriber sees spans: at least each command's own.
    assert!(
        extra(
            &report,
            "overhead.observed.commands",
            "spans recorded per command"
        ) >= 1.0
    );
    for key in &read_store_rows {
        assert_eq!(
            extra(&report, key, "_applied"),
            extra(&report, key, "_events"),
            "{key} caught up within the budget"
        );
        assert!(extra(&report, key, "peak RSS (MiB)") > 0.0);
    }
    assert_eq!(extra(&report, "load.plain", "_events"), config.load_events as f64);
    for key in &scale_rows {
        assert_eq!(
            extra(&report, key, "_applied"),
            events as f64,
            "{key} caught up, each event once"
        );
    }
    for workers in &config.scale_workers {
        let key = format!("scale.per_event.{}x{workers}.{events}", config.scale_partitions);
        // Between them the workers read the log at least once (a batch handed over mid-way is
        // read again by its new holder).
        let mean = extra(&report, &key, "read per worker ÷ log, mean");
        assert!(mean * *workers as f64 >= 0.999, "{key}: {mean}");
    }

    let table = report.to_markdown();
    assert!(table.contains("| scenario | rate |"), "{table}");
    for row in &report.rows {
        assert!(table.contains(&row.label), "{} not in the table", row.label);
    }
    println!("{table}");
}
