#!/bin/sh
# Checks examples/pipeline.c end to end.
#   check_pipeline.sh generated|file|sigint BINARY
# generated: 20000 made-up records, each written once.
# file:      a file with malformed lines, lines split across reads and a last
#            line without newline; every valid record written once, with the
#            RESULT that the transform's formula gives (redone here in awk).
# sigint:    Ctrl-C in the middle: the process dies of SIGINT, and every record
#            read is either in the output or in the --unwritten list, once.
# AIOC_TEST_EMULATOR: a command prefix such as "qemu-aarch64 -L DIR" (or
# valgrind), split on spaces, as in check_example.sh.
. "$(dirname "$0")/lib.sh"
mode=$1 bin=$2

# Every line of stderr, shown in the log; a sanitizer's or valgrind's report
# fails the test even when it cannot change the exit status (after SIGINT).
show_stderr() {
    sed 's/^/  stderr: /' "$dir/err"
    if grep -Eq '^==[0-9]+==|runtime error:' "$dir/err"; then
        fail "sanitizer or valgrind report on stderr"
    fi
}

# The summary's count for a label: summary read, summary "not written", ...
summary() {
    awk -v label="$1" '/^pipeline: [0-9]+ read, / {
        n = split(substr($0, 11), parts, ", ")
        for (i = 1; i <= n; i++) {
            k = index(parts[i], " ")
            if (substr(parts[i], k + 1) == label) print substr(parts[i], 1, k - 1)
        }
    }' "$dir/err"
}

expect_count() { # label, expected
    got=$(summary "$1")
    [ "$got" = "$2" ] || fail "summary says '$got' $1, expected $2"
}

# The IDs of an output file, sorted as text (for comm), with no repeats.
ids_of() { # file, sorted-ids file
    cut -d, -f1 "$1" | sort >"$2"
    dups=$(uniq -d "$2" | head -5 | tr '\n' ' ')
    [ -z "$dups" ] || fail "IDs listed more than once in $1: $dups"
}

case $mode in
generated)
    ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --records 20000 --out "$dir/out" \
        --unwritten "$dir/unwritten" 2>"$dir/err"
    status=$?
    show_stderr
    [ "$status" -eq 0 ] || fail "exit status $status"
    ids_of "$dir/out" "$dir/ids"
    seq 0 19999 | sort >"$dir/want"
    cmp -s "$dir/ids" "$dir/want" || fail "output IDs are not 0..19999"
    [ ! -s "$dir/unwritten" ] || fail "--unwritten file is not empty"
    expect_count read 20000
    expect_count written 20000
    expect_count malformed 0
    expect_count "not written" 0
    ;;
file)
    # 3000 valid records (about 90 KB, so some lines straddle two reads),
    # a malformed line every 100, odd but valid lines, and no final newline.
    awk 'BEGIN {
        for (i = 0; i < 3000; i++) {
            printf "%d,name %d,%d\n", i, i % 97, (i * 7919) % 20011 - 10000
            if (i % 100 == 50) {
                m = int(i / 100) % 8
                if (m == 0) print ""
                else if (m == 1) print "x" i ",bad id,1"
                else if (m == 2) print i + 100000 ",no value"
                else if (m == 3) print i + 100000 ",,1"
                else if (m == 4) print "-" i ",negative id,1"
                else if (m == 5) print i + 100000 ",extra,1,2"
                else if (m == 6) print i + 100000 ",value,12x"
                else printf "%d,%s,1\n", i + 100000, sprintf("%065d", 0)
            }
        }
        printf "3000,carriage return,-5\r\n"
        printf "3001,  spaces  and ~!@#$%%^&*()_+|}{:\"?><,0\n"
        printf "3002,%s,9\n", sprintf("%064d", 0)
        printf "3003,last line,42"
    }' >"$dir/in"
    lines=$(awk 'END { print NR }' "$dir/in")
    ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --parsers 3 --transformers 3 --out "$dir/out" \
        "$dir/in" 2>"$dir/err"
    status=$?
    show_stderr
    [ "$status" -eq 0 ] || fail "exit status $status"
    written=$(summary written) malformed=$(summary malformed)
    [ "$((written + malformed))" -eq "$lines" ] ||
        fail "$written written + $malformed malformed != $lines lines"
    expect_count read "$lines"
    expect_count malformed 30
    expect_count "not written" 0
    ids_of "$dir/out" "$dir/ids"
    awk -F, '$1 ~ /^[0-9]+$/ && $1 < 100000 { print $1 }' "$dir/in" | sort >"$dir/want"
    cmp -s "$dir/ids" "$dir/want" || fail "output IDs differ from the valid input IDs"
    [ "$(wc -l <"$dir/out")" -eq "$written" ] || fail "output lines != written count"
    # RESULT: the polynomial hash of pipeline.c's transform (MODULUS,
    # ROUNDS), exact in awk's doubles since every value stays below 2^53.
    # Checked for every record, against the input's NAME and VALUE.
    awk -F, -v rounds=600 -v m=1000000007 '
        BEGIN { for (c = 32; c < 127; c++) ord[sprintf("%c", c)] = c }
        NR == FNR {
            sub(/\r$/, "")
            if ($1 ~ /^[0-9]+$/ && $1 < 100000) { name[$1] = $2; value[$1] = $3 }
            next
        }
        {
            if (!($1 in name) || $2 != name[$1]) { print "bad line: " $0; bad++; next }
            v = (value[$1] % m + m) % m; len = length($2); h = 0
            for (r = 0; r < rounds; r++) {
                for (k = 1; k <= len; k++) h = (h * 31 + ord[substr($2, k, 1)]) % m
                h = (h * 31 + $1 % m) % m
                h = (h * 31 + v) % m
            }
            if (sprintf("%.0f", h) != $3) { print "wrong result: " $0 " (want " h ")"; bad++ }
        }
        END { exit bad > 0 }' "$dir/in" "$dir/out" || fail "output records differ from the formula"
    ;;
sigint)
    start ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --records 200000 \
        --transformers 2 --out "$dir/out" --unwritten "$dir/unwritten" 2>"$dir/err"
    # Ctrl-C once some records are written: at most 20 s of polling.
    wait_line "$dir/out" '1p' 20 || fail "no output after 20 s"
    interrupt "$started" 30
    show_stderr
    [ "$status" -eq 130 ] || fail "exit status $status, not 130 (death by SIGINT)"
    grep -q '^pipeline: interrupted$' "$dir/err" || fail "no 'interrupted' report"
    nread=$(summary read)
    [ -n "$nread" ] || fail "no summary"
    [ "$nread" -lt 200000 ] || fail "read every record: interrupted too late to tell"
    expect_count written "$(wc -l <"$dir/out" | tr -d ' ')"
    expect_count "not written" "$(wc -l <"$dir/unwritten" | tr -d ' ')"
    ids_of "$dir/out" "$dir/ids"
    sort "$dir/unwritten" >"$dir/unwritten_ids"
    dups=$(uniq -d "$dir/unwritten_ids" | head -5 | tr '\n' ' ')
    [ -z "$dups" ] || fail "IDs listed more than once in --unwritten: $dups"
    both=$(comm -12 "$dir/ids" "$dir/unwritten_ids" | head -5 | tr '\n' ' ')
    [ -z "$both" ] || fail "IDs both written and not written: $both"
    sort "$dir/ids" "$dir/unwritten_ids" >"$dir/all"
    seq 0 $((nread - 1)) | sort >"$dir/want"
    cmp -s "$dir/all" "$dir/want" || fail "written + not written != the $nread IDs read"
    echo "interrupted after $nread records read: $(wc -l <"$dir/out") written"
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: pipeline $mode"
