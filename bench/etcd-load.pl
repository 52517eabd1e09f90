#!/usr/bin/perl
# Loads etcd with the benchmark's data set through its v3 JSON gateway: keys mesh/k000001 ..
# mesh/kNNNNNN, each value {"n":i,"text":26 words} of the same vocabulary and size as
# bench/load.sql, 100 puts to a transaction. Perl, because every Debian 12 has it. Each request
# goes out in one write on its own connection: HTTP::Tiny writes headers and body apart, and Nagle
# plus delayed ACKs then cost 40 ms a request (48 s for the load instead of 4).
#   etcd-load.pl URL_PREFIX [N]      (URL_PREFIX e.g. http://127.0.0.1:19620/v3)
use strict;
use warnings;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);

my ($api, $n) = @ARGV;
my ($host, $port, $path) = ($api // '') =~ m{^http://([^/:]+):(\d+)(/.*)$}
	or die "usage: etcd-load.pl http://HOST:PORT/PREFIX [N]\n";
$n ||= 100000;
my @syl = qw(ka lo mi ne su ta ri po de fu ga hi jo be vu zo ce wa ny xi);
sub word { my $w = shift; $syl[$w % 20] . $syl[int($w / 20) % 20] . $syl[int($w / 400)] }
sub b64 { encode_base64(shift, '') }

srand(42);
for (my $i = 1; $i <= $n; $i += 100) {
	my @ops;
	for my $j ($i .. ($i + 99 > $n ? $n : $i + 99)) {
		my $text = join ' ', map { word(int(rand(2000))) } 1 .. 26;
		my $k = b64(sprintf 'mesh/k%06d', $j);
		my $v = b64(qq({"n":$j,"text":"$text"}));
		push @ops, qq({"requestPut":{"key":"$k","value":"$v"}});
	}
	my $body = '{"success":[' . join(',', @ops) . ']}';
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 30)
		or die "etcd-load: connect: $!\n";
	print $s "POST $path/kv/txn HTTP/1.1\r\nHost: $host\r\nContent-Type: application/json\r\n"
		. "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
	my $reply = do { local $/; <$s> } // '';
	close $s;
	die "etcd-load: $reply\n" unless $reply =~ m{^HTTP/1\.1 200} && $reply =~ /"succeeded":true/;
}
