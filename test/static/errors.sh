#!/usr/bin/env bash
# Every pushplan error code is in src/errors.h, raised with the SQLSTATE it is paired with there,
# and documented in doc/errors.md with that SQLSTATE.
#
# Reads src/errors.h (#define PPE_NAME ERRCODE_X, "9xxxx"; the ERRCODE_ names are resolved to
# SQLSTATEs through the server's utils/errcodes.h), the C sources (which raise through the names:
# pp_error, pp_errmsg, PP_CODE), the SQL sources sql/api/ and sql/install/ (RAISE EXCEPTION
# '9xxxx: ...' USING ERRCODE = '.....'; the released sql/pushplan--0.1.sql is not read) and the
# tables of doc/errors.md. Fails when:
#   - a line of errors.h defining PPE_ is not of that form, a name is defined twice, or an
#     ERRCODE_ name is not one of the server's;
#   - a C file outside errors.h holds a code as a string literal ("92100: ..."), or uses a PPE_
#     name that errors.h does not define;
#   - SQL raises a code that errors.h does not list, or with a SQLSTATE that errors.h does not
#     pair it with (a RAISE with no ERRCODE is P0001), or holds a coded text (a problem a caller
#     raises) whose code errors.h does not list;
#   - an errors.h code is missing from doc/errors.md, or documented there with a SQLSTATE that
#     errors.h does not pair it with;
#   - an errors.h name is raised nowhere (neither used in C nor its code raised from SQL).
# Run: bash test/static/errors.sh (no build needed)
set -eu
top=${PUSHPLAN_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
errcodes="$(pg_config --includedir-server)/utils/errcodes.h"
if [ ! -r "$errcodes" ]; then echo "FAIL: cannot read $errcodes"; exit 1; fi

exec perl -e '
use strict;
use warnings;
my ($errcodes) = @ARGV;
my $bad = 0;
sub fail { print "FAIL: @_\n"; $bad++ }
sub slurp { my $f = shift; open my $h, "<", $f or die "$f: $!\n"; local $/; my $s = <$h>; close $h; $s }
# line number of an offset in a text
sub line_of { my ($s, $off) = @_; my $n = () = substr($s, 0, $off) =~ /\n/g; $n + 1 }

# ---- the server'"'"'s SQLSTATEs -----------------------------------------------------------------
my %state;
for (split /\n/, slurp($errcodes)) {
  $state{$1} = "$2$3$4$5$6" if /^#define (ERRCODE_\w+)\s+MAKE_SQLSTATE\(\x27(.)\x27,\s*\x27(.)\x27,\s*\x27(.)\x27,\s*\x27(.)\x27,\s*\x27(.)\x27\)/;
}

# ---- src/errors.h -------------------------------------------------------------------------------
my (%def, %pairs, %codes);   # name -> [state, code]; "code state" -> name; code -> {state}
my $n = 0;
for (split /\n/, slurp("src/errors.h")) {
  $n++;
  next unless /^#define\s+PPE_/;
  if (/^#define\s+(PPE_\w+)\s+(ERRCODE_\w+),\s*"(9\d{4})"\s*(?:\/\*.*\*\/\s*)?$/) {
    my ($name, $ec, $code) = ($1, $2, $3);
    if ($def{$name}) { fail("src/errors.h:$n: $name is defined twice"); next }
    my $st = $state{$ec};
    if (!defined $st) { fail("src/errors.h:$n: $name: $ec is not a SQLSTATE of the server"); next }
    $def{$name} = [$st, $code];
    $pairs{"$code $st"} //= $name;
    $codes{$code}{$st} = 1;
  } else {
    fail("src/errors.h:$n: not of the form #define PPE_NAME ERRCODE_X, \"9xxxx\": $_");
  }
}
printf "src/errors.h: %d names, %d codes\n", scalar(keys %def), scalar(keys %codes);
my %used;                      # name -> 1
sub states_of { join(" or ", sort keys %{$codes{$_[0]} || {}}) }

# ---- C: names only, no code literals ----------------------------------------------------------------
my $csites = 0;
for my $f (sort(glob("src/*.c"), glob("src/*.h"))) {
  next if $f eq "src/errors.h";
  my $s = slurp($f);
  # blank out comments, keeping offsets (and so line numbers)
  $s =~ s{/\*.*?\*/|//[^\n]*}{ (my $c = $&) =~ s/[^\n]/ /g; $c }gse;
  while ($s =~ /"(9\d{4})(?:[:"]|\s)/g) {
    fail(sprintf("%s:%d: the code %s is written as a literal: use its name from src/errors.h%s",
                 $f, line_of($s, $-[0]), $1, $codes{$1} ? "" : " (and add it there)"));
  }
  while ($s =~ /\b(PPE_\w+)/g) {
    if ($def{$1}) { $used{$1} = 1; $csites++ }
    else { fail(sprintf("%s:%d: %s is not defined in src/errors.h", $f, line_of($s, $-[0]), $1)) }
  }
}
print "C: $csites uses of the names\n";

# ---- SQL: RAISE EXCEPTION with a coded message, and coded problem texts -----------------------------
my ($sraise, $stext) = (0, 0);
for my $f (sort(glob("sql/api/*.sql"), glob("sql/install/*.sql"))) {
  my $s = slurp($f);
  # blank out -- comments that are outside string literals, keeping offsets
  my $t = "";
  my $q = 0;
  for (my $i = 0; $i < length $s; $i++) {
    my $c = substr($s, $i, 1);
    if (!$q && $c eq "-" && substr($s, $i, 2) eq "--") {
      my $e = index($s, "\n", $i); $e = length $s if $e < 0;
      $t .= " " x ($e - $i); $i = $e - 1; next;
    }
    $q = !$q if $c eq "\x27";
    $t .= $c;
  }
  $s = $t;
  my %in_raise;                # offsets of the code literals inside RAISE statements
  while ($s =~ /\bRAISE\b/gi) {
    my $start = $-[0];
    # the statement runs to the first ; outside a string literal
    my ($i, $q2) = ($start, 0);
    for (; $i < length $s; $i++) {
      my $c = substr($s, $i, 1);
      $q2 = !$q2 if $c eq "\x27";
      last if $c eq ";" && !$q2;
    }
    my $stmt = substr($s, $start, $i - $start);
    my $line = line_of($s, $start);
    my $sqlstate = $stmt =~ /\bERRCODE\s*=\s*\x27(\w{5})\x27/i ? $1 : "P0001";
    while ($stmt =~ /\x27(9\d{4}):/g) {
      my $code = $1;
      $in_raise{$start + $-[0]} = 1;
      $sraise++;
      if (!$codes{$code}) { fail("$f:$line: raises $code, which src/errors.h does not list"); next }
      if (!$codes{$code}{$sqlstate}) {
        fail("$f:$line: raises $code with SQLSTATE $sqlstate; src/errors.h pairs it with " . states_of($code));
        next;
      }
      $used{$pairs{"$code $sqlstate"}} = 1;
    }
  }
  while ($s =~ /\x27(9\d{4}):/g) {
    next if $in_raise{$-[0]};
    my $code = $1;
    $stext++;
    if (!$codes{$code}) { fail(sprintf("%s:%d: the text of code %s, which src/errors.h does not list", $f, line_of($s, $-[0]), $code)); next }
    $used{$pairs{"$code $_"}} = 1 for keys %{$codes{$code}};
  }
}
print "SQL: $sraise coded RAISE messages, $stext coded problem texts\n";

# ---- doc/errors.md ------------------------------------------------------------------------------------
my %doc;                       # code -> {state}
$n = 0;
for (split /\n/, slurp("doc/errors.md")) {
  $n++;
  next unless /^\|\s*(9\d{4})\s*\|([^|]*)\|/;
  my ($code, $cell) = ($1, $2);
  for my $st (split m{/}, $cell) {
    $st =~ s/^\s+|\s+$//g;
    $doc{$code}{$st} = 1;
    if (!$codes{$code}) { fail("doc/errors.md:$n: documents $code, which src/errors.h does not list"); last }
    fail("doc/errors.md:$n: documents $code with SQLSTATE $st; src/errors.h pairs it with " . states_of($code))
      unless $codes{$code}{$st};
  }
}
for my $name (sort { $def{$a}[1] cmp $def{$b}[1] or $a cmp $b } keys %def) {
  my ($st, $code) = @{$def{$name}};
  if (!$doc{$code}) { fail("$name: $code is not in doc/errors.md"); next }
  fail("$name: doc/errors.md does not give $code the SQLSTATE $st") unless $doc{$code}{$st};
  fail("$name ($code) is raised nowhere") unless $used{$name};
}
printf "doc/errors.md: %d codes\n", scalar(keys %doc);

if ($bad) { print "$bad problem(s) with the error codes\n"; exit 1 }
print "every code is in src/errors.h, raised with its SQLSTATE and documented\n";
' "$errcodes"
