#!/usr/bin/perl
# Perl Sisimai's bounce parsing and classification throughput, for `postern-bench bounces`.
#
#   perl sisimai-throughput.pl SECONDS FILE...
#
# One untimed pass prints every result as `R<TAB>file<TAB>index<TAB>reason` (index counts
# the results of one file from 1, as Sisimai returns them); then whole passes over the files
# are timed until at least SECONDS have gone by, and one JSON line reports them:
# {"version":..,"passes":..,"seconds":..,"messages":..,"bounces":..}. `messages` is the
# number of files of one pass (each a message). Uses Sisimai->rise (Sisimai 5) when the
# installed Sisimai has it, else Sisimai->make (Sisimai 4, Debian's libsisimai-perl), with
# the options of the corpus's peer output (delivered and vacation results included).
use strict;
use warnings;
use Sisimai;
use Time::HiRes qw(time);

my $seconds = shift @ARGV;
die "usage: $0 SECONDS FILE...\n" unless defined $seconds && @ARGV;
my @files = @ARGV;
my $rise = Sisimai->can('rise') ? 1 : 0;

sub decode {
    my $file = shift;
    my $list = $rise
        ? Sisimai->rise($file, 'delivered' => 1, 'vacation' => 1)
        : Sisimai->make($file, 'delivered' => 1, 'vacation' => 1);
    return $list // [];
}

my $bounces = 0;
for my $file (@files) {
    my $index = 0;
    for my $data (@{ decode($file) }) {
        $index++;
        $bounces++;
        printf "R\t%s\t%d\t%s\n", $file, $index, $data->reason // '';
    }
}

my $passes = 0;
my $start  = time;
while ($passes == 0 || time - $start < $seconds) {
    decode($_) for @files;
    $passes++;
}
my $elapsed = time - $start;
printf "{\"version\":\"%s\",\"passes\":%d,\"seconds\":%.6f,\"messages\":%d,\"bounces\":%d}\n",
    $Sisimai::VERSION, $passes, $elapsed, scalar @files, $bounces;
