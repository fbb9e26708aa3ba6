;; Row hashing for content fingerprints (fingerprint.ts, algorithm murmur3x2-sum/copy-text/day/v1),
;; compiled to WebAssembly because it is the one per-byte loop dr runs on its own thread during a
;; backup and a verify: the same MurmurHash3 x86-32 with two seeds, and the same day bucket, as the
;; TypeScript reference (murmur2x and RowHasher.bucketOf), whose known-answer test both must pass.
;;
;; hash(len, timeField) reads complete COPY rows, each ended by a newline, from memory [0, len) and
;; writes runs of consecutive rows with one bucket key from RUNS on, 24 bytes each:
;;   key, rows, lane-1 sum, lane-2 sum, first row's start, first row's end (offsets into the input).
;; Keys: yyyymmdd, -1 no time column (timeField < 0), -2 NULL or missing field, -3 any other text
;; (infinity, BC, a year past 9999), which is one run per row: the caller buckets it by its text.
;; A row `\.` ends the data: the global `ended` is set and nothing after it is read.
;; It also keeps the newest time of the rows with a day key, as the text of its field, which orders
;; as the times do for ISO text of one type in UTC (what COPY_SESSION gives): `maxKey` is its day
;; (-4 for none yet) and the `maxLength` bytes at `maxAt` its text; the caller sets all three
;; before each call. A time longer than 56 bytes, or one BC, stops it: maxLength -1, and maxKey above
;; every day.
;; It returns the number of runs. The input is followed by 8 bytes that are read but never used (the
;; newline scan loads 8 bytes at a time) and every row, the last included, ends with a newline.
(module
  (memory (export "memory") 101)
  (global $ended (export "ended") (mut i32) (i32.const 0))
  ;; The largest input of one call, and where its runs are written: after the input, its 8 bytes of
  ;; overread and padding. JavaScript reads both from here.
  (global (export "sliceBytes") i32 (i32.const 262144))
  (global $RUNS (export "runsAt") i32 (i32.const 262208))
  ;; A run's size in bytes (six i32: key, rows, the two lane sums, the first row's start and end).
  (global (export "runBytes") i32 (i32.const 24))
  (global $MAX (export "maxAt") i32 (i32.const 262152))
  (global $maxKey (export "maxKey") (mut i32) (i32.const -4))
  (global $maxLength (export "maxLength") (mut i32) (i32.const 0))
  ;; Where the time field of the row that $bucket last gave a day starts.
  (global $fieldAt (mut i32) (i32.const 0))

  (func $fmix (param $h i32) (result i32)
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0x85ebca6b)))
    (local.set $h (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 13))))
    (local.set $h (i32.mul (local.get $h) (i32.const 0xc2b2ae35)))
    (i32.xor (local.get $h) (i32.shr_u (local.get $h) (i32.const 16))))

  (func $isDigit (param $p i32) (result i32)
    (i32.lt_u (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)) (i32.const 10)))

  (func $digit (param $p i32) (result i32)
    (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))

  ;; The bucket key of the row [rs, nl), by its field timeField (>= 0).
  (func $bucket (param $rs i32) (param $nl i32) (param $tf i32) (result i32)
    (local $at i32) (local $f i32)
    (local.set $at (local.get $rs))
    (block $missing
      (loop $fields
        (if (i32.lt_u (local.get $f) (local.get $tf))
          (then
            (block $tab
              (loop $scan
                (br_if $missing (i32.ge_u (local.get $at) (local.get $nl)))
                (local.set $at (i32.add (local.get $at) (i32.const 1)))
                (br_if $tab (i32.eq (i32.load8_u offset=0 (i32.sub (local.get $at) (i32.const 1))) (i32.const 9)))
                (br $scan)))
            (local.set $f (i32.add (local.get $f) (i32.const 1)))
            (br $fields))))
      ;; \N
      (if (i32.and
            (i32.eq (i32.load8_u (local.get $at)) (i32.const 92))
            (i32.eq (i32.load8_u offset=1 (local.get $at)) (i32.const 78)))
        (then (return (i32.const -2))))
      ;; ISO YYYY-MM-DD, not followed by " BC".
      (if (i32.and
            (i32.and
              (i32.le_u (i32.add (local.get $at) (i32.const 10)) (local.get $nl))
              (i32.and
                (i32.eq (i32.load8_u offset=4 (local.get $at)) (i32.const 45))
                (i32.eq (i32.load8_u offset=7 (local.get $at)) (i32.const 45))))
            (i32.or
              (i32.eq (i32.add (local.get $at) (i32.const 10)) (local.get $nl))
              (i32.or
                (i32.ne (i32.load8_u offset=10 (local.get $at)) (i32.const 32))
                (i32.ne (i32.load8_u offset=11 (local.get $at)) (i32.const 66)))))
        (then
          (if (i32.and
                (i32.and
                  (i32.and (call $isDigit (local.get $at)) (call $isDigit (i32.add (local.get $at) (i32.const 1))))
                  (i32.and (call $isDigit (i32.add (local.get $at) (i32.const 2))) (call $isDigit (i32.add (local.get $at) (i32.const 3)))))
                (i32.and
                  (i32.and (call $isDigit (i32.add (local.get $at) (i32.const 5))) (call $isDigit (i32.add (local.get $at) (i32.const 6))))
                  (i32.and (call $isDigit (i32.add (local.get $at) (i32.const 8))) (call $isDigit (i32.add (local.get $at) (i32.const 9))))))
            (then
              (global.set $fieldAt (local.get $at))
              (return
                (i32.add
                  (i32.add
                    (i32.mul
                      (i32.add
                        (i32.add
                          (i32.mul (call $digit (local.get $at)) (i32.const 1000))
                          (i32.mul (call $digit (i32.add (local.get $at) (i32.const 1))) (i32.const 100)))
                        (i32.add
                          (i32.mul (call $digit (i32.add (local.get $at) (i32.const 2))) (i32.const 10))
                          (call $digit (i32.add (local.get $at) (i32.const 3)))))
                      (i32.const 10000))
                    (i32.mul
                      (i32.add
                        (i32.mul (call $digit (i32.add (local.get $at) (i32.const 5))) (i32.const 10))
                        (call $digit (i32.add (local.get $at) (i32.const 6))))
                      (i32.const 100)))
                  (i32.add
                    (i32.mul (call $digit (i32.add (local.get $at) (i32.const 8))) (i32.const 10))
                    (call $digit (i32.add (local.get $at) (i32.const 9))))))))))
      (return (i32.const -3)))
    (i32.const -2))

;; Keeps the time field at $fieldAt of a row [.., nl) with day `key` (>= maxKey) if it is newer.
  ;; Time-ordered data calls it for nearly every row, so the same day is compared 8 bytes at a time,
  ;; with the row's tab or newline as the end of its text (it sorts before every text byte).
  (func $keepNewest (param $key i32) (param $nl i32)
    (local $at i32) (local $end i32) (local $length i32) (local $i i32) (local $x i64)
    (local.set $at (global.get $fieldAt))
    (if (i32.eq (local.get $key) (global.get $maxKey))
      (then
        (block $newer
          (loop $bytes
            (if (i32.eq (local.get $i) (global.get $maxLength))
              (then
                ;; Equal so far: newer only if the row's text goes on.
                (br_if $newer
                  (i32.gt_u (i32.load8_u (i32.add (local.get $at) (local.get $i))) (i32.const 10)))
                (return)))
            (if (i32.le_u (i32.add (local.get $i) (i32.const 8)) (global.get $maxLength))
              (then
                (local.set $x
                  (i64.xor
                    (i64.load (i32.add (local.get $at) (local.get $i)))
                    (i64.load (i32.add (global.get $MAX) (local.get $i)))))
                (if (i64.eqz (local.get $x))
                  (then
                    (local.set $i (i32.add (local.get $i) (i32.const 8)))
                    (br $bytes)))
                (local.set $i (i32.add (local.get $i) (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $x)) (i64.const 3))))))
              (else
                (if (i32.eq
                      (i32.load8_u (i32.add (local.get $at) (local.get $i)))
                      (i32.load8_u (i32.add (global.get $MAX) (local.get $i))))
                  (then
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $bytes)))))
            ;; The first byte that differs decides.
            (br_if $newer
              (i32.gt_u
                (i32.load8_u (i32.add (local.get $at) (local.get $i)))
                (i32.load8_u (i32.add (global.get $MAX) (local.get $i)))))
            (return)))))
    (local.set $end (local.get $at))
    (block $fieldEnd
      (loop $scan
        (br_if $fieldEnd (i32.ge_u (local.get $end) (local.get $nl)))
        (br_if $fieldEnd (i32.eq (i32.load8_u (local.get $end)) (i32.const 9)))
        (local.set $end (i32.add (local.get $end) (i32.const 1)))
        (br $scan)))
    (local.set $length (i32.sub (local.get $end) (local.get $at)))
    ;; A BC time ("… BC") orders backwards, and a long one is not kept: the newest time is unknown.
    (if (i32.or
          (i32.gt_u (local.get $length) (i32.const 56))
          (i32.and
            (i32.ge_u (local.get $length) (i32.const 3))
            (i32.and
              (i32.eq (i32.load8_u (i32.sub (local.get $end) (i32.const 3))) (i32.const 32))
              (i32.eq (i32.load16_u (i32.sub (local.get $end) (i32.const 2))) (i32.const 0x4342)))))
      (then
        (global.set $maxKey (i32.const 0x7fffffff))
        (global.set $maxLength (i32.const -1))
        (return)))
    (memory.copy (global.get $MAX) (local.get $at) (local.get $length))
    (global.set $maxKey (local.get $key))
    (global.set $maxLength (local.get $length)))

  (func (export "hash") (param $len i32) (param $tf i32) (result i32)
    (local $rs i32) (local $nl i32) (local $p i32) (local $blocks i32) (local $n i32)
    (local $h1 i32) (local $h2 i32) (local $k i32) (local $tail i32)
    (local $x i64) (local $t i64)
    (local $key i32) (local $lastKey i32) (local $run i32) (local $runs i32)
    (local.set $lastKey (i32.const -4))
    (local.set $run (i32.sub (global.get $RUNS) (i32.const 24)))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $rs) (local.get $len)))
        ;; The row's newline, 8 bytes at a time: the lowest byte equal to 10 (exact for the first one).
        (local.set $p (local.get $rs))
        (block $found
          (loop $scan
            (local.set $x (i64.xor (i64.load (local.get $p)) (i64.const 0x0a0a0a0a0a0a0a0a)))
            (local.set $t
              (i64.and
                (i64.and (i64.sub (local.get $x) (i64.const 0x0101010101010101)) (i64.xor (local.get $x) (i64.const -1)))
                (i64.const 0x8080808080808080)))
            (if (i64.ne (local.get $t) (i64.const 0))
              (then
                (local.set $nl (i32.add (local.get $p) (i32.wrap_i64 (i64.shr_u (i64.ctz (local.get $t)) (i64.const 3)))))
                (br $found)))
            (local.set $p (i32.add (local.get $p) (i32.const 8)))
            (br $scan)))
        (local.set $n (i32.sub (local.get $nl) (local.get $rs)))
        ;; `\.`: the end of pg_dump's data.
        (if (i32.and
              (i32.eq (local.get $n) (i32.const 2))
              (i32.eq (i32.load16_u (local.get $rs)) (i32.const 0x2e5c)))
          (then
            (global.set $ended (i32.const 1))
            (br $done)))
        ;; MurmurHash3 x86-32, seeds 0x9747b28c and 0x5bd1e995, over the row's bytes.
        (local.set $h1 (i32.const 0x9747b28c))
        (local.set $h2 (i32.const 0x5bd1e995))
        (local.set $p (local.get $rs))
        (local.set $blocks (i32.add (local.get $rs) (i32.and (local.get $n) (i32.const -4))))
        (block $blocksDone
          (loop $block
            (br_if $blocksDone (i32.ge_u (local.get $p) (local.get $blocks)))
            (local.set $k
              (i32.mul (i32.rotl (i32.mul (i32.load (local.get $p)) (i32.const 0xcc9e2d51)) (i32.const 15)) (i32.const 0x1b873593)))
            (local.set $h1
              (i32.add (i32.mul (i32.rotl (i32.xor (local.get $h1) (local.get $k)) (i32.const 13)) (i32.const 5)) (i32.const 0xe6546b64)))
            (local.set $h2
              (i32.add (i32.mul (i32.rotl (i32.xor (local.get $h2) (local.get $k)) (i32.const 13)) (i32.const 5)) (i32.const 0xe6546b64)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $block)))
        (local.set $tail (i32.and (local.get $n) (i32.const 3)))
        (if (local.get $tail)
          (then
            (local.set $k (i32.load8_u (local.get $p)))
            (if (i32.gt_u (local.get $tail) (i32.const 1))
              (then (local.set $k (i32.xor (local.get $k) (i32.shl (i32.load8_u offset=1 (local.get $p)) (i32.const 8))))))
            (if (i32.gt_u (local.get $tail) (i32.const 2))
              (then (local.set $k (i32.xor (local.get $k) (i32.shl (i32.load8_u offset=2 (local.get $p)) (i32.const 16))))))
            (local.set $k (i32.mul (i32.rotl (i32.mul (local.get $k) (i32.const 0xcc9e2d51)) (i32.const 15)) (i32.const 0x1b873593)))
            (local.set $h1 (i32.xor (local.get $h1) (local.get $k)))
            (local.set $h2 (i32.xor (local.get $h2) (local.get $k)))))
        (local.set $h1 (call $fmix (i32.xor (local.get $h1) (local.get $n))))
        (local.set $h2 (call $fmix (i32.xor (local.get $h2) (local.get $n))))
        (local.set $key
          (if (result i32) (i32.lt_s (local.get $tf) (i32.const 0))
            (then (i32.const -1))
            (else (call $bucket (local.get $rs) (local.get $nl) (local.get $tf)))))
        (if (i32.and (i32.ge_s (local.get $key) (i32.const 0)) (i32.ge_s (local.get $key) (global.get $maxKey)))
          (then (call $keepNewest (local.get $key) (local.get $nl))))
        ;; Rows come mostly in time order: one run per bucket change (and per row of other text).
        (if (i32.and (i32.eq (local.get $key) (local.get $lastKey)) (i32.ne (local.get $key) (i32.const -3)))
          (then
            (i32.store offset=4 (local.get $run) (i32.add (i32.load offset=4 (local.get $run)) (i32.const 1)))
            (i32.store offset=8 (local.get $run) (i32.add (i32.load offset=8 (local.get $run)) (local.get $h1)))
            (i32.store offset=12 (local.get $run) (i32.add (i32.load offset=12 (local.get $run)) (local.get $h2))))
          (else
            (local.set $run (i32.add (local.get $run) (i32.const 24)))
            (i32.store offset=0 (local.get $run) (local.get $key))
            (i32.store offset=4 (local.get $run) (i32.const 1))
            (i32.store offset=8 (local.get $run) (local.get $h1))
            (i32.store offset=12 (local.get $run) (local.get $h2))
            (i32.store offset=16 (local.get $run) (local.get $rs))
            (i32.store offset=20 (local.get $run) (local.get $nl))
            (local.set $runs (i32.add (local.get $runs) (i32.const 1)))
            (local.set $lastKey (local.get $key))))
        (local.set $rs (i32.add (local.get $nl) (i32.const 1)))
        (br $rows)))
    (local.get $runs))
)
