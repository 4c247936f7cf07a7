use std::sync::atomic::Ordering::Relaxed;

use super::*;

fn limits(max_bytes: u64, lines: usize) -> Limits {
    Limits {
        max_bytes,
        batch_max_lines: lines,
        batch_max_bytes: 1 << 20,
        batch_max_wait: Duration::from_secs(3600),
    }
}

fn take(spool: &Spool) -> Segment {
    match spool.next() {
        Next::Send(segment) => segment,
        Next::Stop => panic!("expected a segment"),
    }
}

#[test]
fn segments_by_line_count_survive_a_reopen_and_are_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counters = Arc::new(Counters::default());
    let spool = Spool::open("t", dir.path(), limits(1 << 20, 2), counters.clone()).expect("open");
    for n in 0..5 {
        assert!(spool.append(format!("{{\"n\":{n}}}").as_bytes()));
    }
    spool.flush();
    let mut first = take(&spool);
    assert_eq!(first.lines, 2);
    let lines = spool.read(&mut first).expect("read");
    assert_eq!(lines, [b"{\"n\":0}".to_vec(), b"{\"n\":1}".to_vec()]);
    spool.acknowledge(&first, 2);
    assert_eq!(counters.delivered.load(Relaxed), 2);
    assert_eq!(counters.queued.load(Relaxed), 3);
    drop(spool);

    // A restart: the sealed segment and the open one (one line) are both pending, in order.
    let counters = Arc::new(Counters::default());
    let spool = Spool::open("t", dir.path(), limits(1 << 20, 2), counters.clone()).expect("reopen");
    assert_eq!(counters.queued.load(Relaxed), 3);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut segment = take(&spool);
        seen.extend(spool.read(&mut segment).expect("read"));
        spool.acknowledge(&segment, segment.lines);
    }
    assert_eq!(
        seen,
        [b"{\"n\":2}".to_vec(), b"{\"n\":3}".to_vec(), b"{\"n\":4}".to_vec()]
    );
    spool.append(b"{\"n\":5}");
    spool.begin_close(Instant::now() + Duration::from_secs(60));
    let last = take(&spool);
    assert!(last.seq > 2, "new segments come after the replayed ones");
    spool.acknowledge(&last, 1);
    assert!(matches!(spool.next(), Next::Stop));
    assert_eq!(counters.queued.load(Relaxed), 0);
    assert_eq!(counters.queued_bytes.load(Relaxed), 0);
}

#[test]
fn a_full_spool_evicts_the_oldest_segment_but_not_the_one_being_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counters = Arc::new(Counters::default());
    // Lines of 12 bytes with the newline, 2 per segment, 72 bytes: 3 segments fit.
    let spool = Spool::open("t", dir.path(), limits(72, 2), counters.clone()).expect("open");
    for n in 0..6 {
        assert!(spool.append(format!("\"line-{n:04}\"").as_bytes()));
    }
    let mut sending = take(&spool);
    assert_eq!(spool.read(&mut sending).expect("read")[0], b"\"line-0000\"");
    assert!(spool.append(b"\"line-0006\""), "the second segment is evicted");
    assert_eq!(counters.dropped.load(Relaxed), 2);
    spool.acknowledge(&sending, 2);
    spool.begin_close(Instant::now() + Duration::from_secs(60));
    let mut left = Vec::new();
    while let Next::Send(mut segment) = spool.next() {
        left.extend(spool.read(&mut segment).expect("read"));
        spool.acknowledge(&segment, segment.lines);
    }
    assert_eq!(
        left,
        [
            b"\"line-0004\"".to_vec(),
            b"\"line-0005\"".to_vec(),
            b"\"line-0006\"".to_vec()
        ]
    );
    assert_eq!(counters.written.load(Relaxed), 7);
    assert_eq!(
        counters.delivered.load(Relaxed) + counters.dropped.load(Relaxed),
        7,
        "every line delivered or counted as dropped"
    );
}

#[test]
fn a_partial_last_line_is_skipped_and_rewrite_keeps_the_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(format!("{:020}.ndjson", 7)),
        "{\"a\":1}\n{\"b\":2}\n{\"c\":",
    )
    .expect("seed");
    let counters = Arc::new(Counters::default());
    let spool = Spool::open("t", dir.path(), limits(1 << 20, 10), counters.clone()).expect("open");
    let mut segment = take(&spool);
    assert_eq!(segment.seq, 7);
    let lines = spool.read(&mut segment).expect("read");
    assert_eq!(lines, [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    let mut again = spool.rewrite(&segment, &[&lines[1]]).expect("rewrite");
    assert_eq!(again.lines, 1);
    assert_eq!(spool.read(&mut again).expect("read"), [b"{\"b\":2}".to_vec()]);
    let kept = spool.reject(&again, &[&lines[1]], true).expect("kept");
    assert_eq!(std::fs::read_to_string(kept).expect("rejected"), "{\"b\":2}\n");
    assert_eq!(counters.dropped.load(Relaxed), 1);
    spool.append(b"{\"d\":4}");
    spool.begin_close(Instant::now() + Duration::from_secs(60));
    let next = take(&spool);
    assert_eq!(next.seq, 8);
}

#[test]
fn damaged_lines_are_set_aside_and_lines_missing_from_the_file_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(format!("{:020}.ndjson", 3)),
        "{\"a\":1}\nnot json\n\n\u{1}\u{2}\n{\"b\":2}\n",
    )
    .expect("seed");
    let counters = Arc::new(Counters::default());
    let spool = Spool::open("t", dir.path(), limits(1 << 20, 10), counters.clone()).expect("open");
    assert_eq!(counters.queued.load(Relaxed), 4, "complete, non-empty lines");
    let mut segment = take(&spool);
    let good = [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()];
    assert_eq!(spool.read(&mut segment).expect("read"), good);
    assert_eq!(counters.dropped.load(Relaxed), 2);
    assert_eq!((segment.lines, counters.queued.load(Relaxed)), (2, 2));
    let aside = std::fs::read_to_string(dir.path().join("rejected").join(format!("{:020}.ndjson", 3)));
    assert_eq!(aside.expect("rejected"), "not json\n\u{1}\u{2}\n");
    assert_eq!(spool.read(&mut segment).expect("read again"), good);
    assert_eq!(counters.dropped.load(Relaxed), 2, "counted once");
    spool.acknowledge(&segment, 2);

    // Three lines written, two of them never reached the file (a failed write).
    for n in 0..3 {
        assert!(spool.append(format!("{{\"n\":{n}}}").as_bytes()));
    }
    spool.begin_close(Instant::now() + Duration::from_secs(60));
    let mut segment = take(&spool);
    std::fs::write(spool.path(segment.seq), "{\"n\":0}\n").expect("cut the file");
    assert_eq!(spool.read(&mut segment).expect("read"), [b"{\"n\":0}".to_vec()]);
    assert_eq!(counters.dropped.load(Relaxed), 4);
    spool.acknowledge(&segment, 1);
    assert_eq!(counters.queued.load(Relaxed), 0);
    assert_eq!(
        4 + counters.written.load(Relaxed),
        counters.delivered.load(Relaxed) + counters.dropped.load(Relaxed),
        "every line found or written is delivered or counted as dropped"
    );
}
